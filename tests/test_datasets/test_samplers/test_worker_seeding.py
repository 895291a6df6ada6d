# Copyright (c) tpr_mm contributors. All rights reserved.
"""EpochWorkerSeeder: worker RNG streams depend on the epoch only; workers die with the trainer."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from tpr_mm.datasets.samplers import EpochWorkerSeeder, worker_seeds
from tpr_mm.engine.runner import TPRRunner

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
SEED, N, BATCH, WORKERS, EPOCHS = 7, 10, 2, 2, 3  # 5 batches: odd, so workers alternate


class DrawDataset(Dataset):
    """Item i = (i, one draw of Python's, NumPy's and PyTorch's global generators)."""

    def __len__(self):
        return N

    def __getitem__(self, i):
        return (int(i), random.random(), float(np.random.rand()), float(torch.rand(1)))


def _as_list(batch):
    return batch


def _loader(persistent):
    cfg = dict(
        collate_fn=_as_list,
        dataset=DrawDataset(),
        sampler=dict(type='DefaultSampler', shuffle=True),
        batch_size=BATCH,
        num_workers=WORKERS,
        persistent_workers=persistent,
    )
    return TPRRunner.build_dataloader(cfg, seed=SEED)


def _run(loader, epochs):
    """Draws per epoch, driving the loader as the runner's hooks do."""
    out = {}
    for epoch in epochs:
        loader.sampler.set_epoch(epoch)  # DistSamplerSeedHook
        loader.worker_init_fn.set_epoch(epoch)  # RNGStateHook.before_train_epoch
        out[epoch] = [item for batch in loader for item in batch]
    return out


def _expected(loader, epoch):
    """The rule restated: batch b goes to worker b % W, which was seeded at the epoch start."""
    loader.sampler.set_epoch(epoch)
    batches = [
        list(map(int, b)) for b in torch.utils.data.BatchSampler(loader.sampler, BATCH, False)
    ]
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    items = [None] * len(batches)
    for worker in range(WORKERS):
        py, npy, pt = worker_seeds(SEED, epoch, 0, worker)
        random.seed(py)
        np.random.seed(npy)
        torch.manual_seed(pt)
        for b in range(worker, len(batches), WORKERS):
            items[b] = [
                (i, random.random(), float(np.random.rand()), float(torch.rand(1)))
                for i in batches[b]
            ]
    random.setstate(saved[0])
    np.random.set_state(saved[1])
    torch.set_rng_state(saved[2])
    return [x for b in items for x in b]


def test_worker_seeds_are_distinct_and_pure():
    seeds = {worker_seeds(0, e, r, w) for e in range(4) for r in range(2) for w in range(4)}
    assert len(seeds) == 32  # no (epoch, worker) collisions like seed + epoch + worker would give
    assert worker_seeds(5, 1, 0, 1) == worker_seeds(5, 1, 0, 1)


@pytest.mark.parametrize('persistent', [True, False])
def test_stream_depends_on_epoch_only_and_resume_matches(persistent):
    loader = _loader(persistent)
    assert isinstance(loader.worker_init_fn, EpochWorkerSeeder)
    before = torch.get_rng_state()
    full = _run(loader, range(EPOCHS))
    # iterating never consumed the main process's generator (a resumed run would shift)
    assert torch.equal(before, torch.get_rng_state())
    for epoch in range(EPOCHS):
        assert full[epoch] == _expected(loader, epoch), f'epoch {epoch}'
    assert full[1] != full[2]  # a new stream each epoch, not a repeat
    # a "resumed" run: fresh (persistent) workers that start at epoch 1
    resumed = _run(_loader(persistent), range(1, EPOCHS))
    assert resumed == {e: full[e] for e in range(1, EPOCHS)}


def test_loader_with_own_worker_init_fn_is_left_alone():
    def mine(worker_id):
        pass

    cfg = dict(
        dataset=DrawDataset(),
        sampler=dict(type='DefaultSampler', shuffle=False),
        batch_size=BATCH,
        num_workers=1,
        worker_init_fn=dict(type=mine),
    )
    assert TPRRunner.build_dataloader(cfg, seed=SEED).worker_init_fn.func is mine


CHILD = textwrap.dedent(
    """
    import os, signal
    import numpy as np
    from torch.utils.data import DataLoader
    from tpr_mm.datasets.samplers import attach_epoch_seeder

    class Big:
        def __len__(self):
            return 64
        def __getitem__(self, i):  # ~1 MB per item: prefetched batches fill the pipe
            return os.getpid(), np.zeros(250_000, np.float32)

    loader = DataLoader(Big(), batch_size=2, num_workers=2, persistent_workers=True,
                        collate_fn=lambda batch: batch)
    attach_epoch_seeder(loader, seed=0, rank=0)  # what TPRRunner.build_dataloader does
    pids = set()
    for batch in loader:
        pids |= {item[0] for item in batch}
        if len(pids) == 2:
            break
    print(' '.join(map(str, sorted(pids))), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


def _alive(pid):
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'  # a zombie holds nothing
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='PR_SET_PDEATHSIG is Linux only')
def test_persistent_workers_exit_when_the_trainer_is_sigkilled(tmp_path):
    script = tmp_path / 'child.py'
    script.write_text(CHILD)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    # stdout only: stderr inherited, so the wait cannot hang on a pipe an orphan holds
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, env=env, text=True
    )
    line = proc.stdout.readline()
    assert proc.wait(timeout=120) == -signal.SIGKILL
    pids = [int(p) for p in line.split()]
    assert len(pids) == 2 and proc.pid not in pids
    deadline = time.time() + 5
    while time.time() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    left = [p for p in pids if _alive(p)]
    for pid in left:  # clean up before failing
        os.kill(pid, signal.SIGKILL)
    assert not left, f'DataLoader workers {left} outlived their SIGKILLed parent'
