# Copyright (c) tpr_mm contributors. All rights reserved.
"""A run SIGKILLed mid-epoch and resumed ends exactly like an uninterrupted one.

The loaders use the shipped worker settings (configs/_base_/datasets/*:
``num_workers > 0``, ``persistent_workers=True``), under which a resumed run
used to differ in 85 of 86 tensors after the next epoch.
"""

import glob
import json
import os
import signal
import sys
import time
import uuid

import pytest
from resume_helpers import assert_same_tensors, load_checkpoint

from tpr_mm.testing.faults import KILL_AT_ITER_ENV

KILL_AT = 9  # epoch 2, batch 3 of 6: after epoch_1.pth, before epoch_2.pth


def _config(tiny_cfg, work_dir, path):
    cfg = tiny_cfg(work_dir, max_epochs=2)
    cfg.custom_imports = dict(imports=['tpr_mm.testing.faults'], allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='SigKillAtIterHook')]
    # Random augmentation in every item, so a wrong RNG state shows in the weights.
    pipeline = cfg.train_dataloader.dataset.pipeline
    pipeline.insert(2, dict(type='RandomHorizontalFlip', prob=0.5))
    for key in ('train_dataloader', 'val_dataloader'):  # the shipped worker settings
        cfg[key].update(num_workers=2, persistent_workers=True)
    cfg.dump(path)


def _processes_marked(mark):
    """Pids of live processes whose environment holds ``mark`` (Linux /proc)."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{pid}/environ', 'rb') as f:
                marked = mark.encode() in f.read()
            with open(f'/proc/{pid}/stat') as f:
                zombie = f.read().rsplit(')', 1)[1].split()[0] == 'Z'
        except OSError:  # gone, or not ours
            continue
        if marked and not zombie:
            found.append(int(pid))
    return found


def _val_metrics(work_dir):
    """The last validation's metrics from the newest run folder's scalars.json."""
    runs = sorted(glob.glob(os.path.join(work_dir, '2*', 'vis_data', 'scalars.json')))
    with open(runs[-1]) as f:
        rows = [json.loads(line) for line in f if 't2i/R1' in line]
    return rows[-1]


@pytest.mark.slow  # three training launches, with 2 persistent workers per loader
def test_sigkill_mid_epoch_then_resume_is_exact(tiny_cfg, tool, tmp_path):
    train = os.path.join(tool.root, 'tools', 'train.py')
    ref_dir, cut_dir = str(tmp_path / 'ref'), str(tmp_path / 'cut')
    _config(tiny_cfg, ref_dir, str(tmp_path / 'ref.py'))
    _config(tiny_cfg, cut_dir, str(tmp_path / 'cut.py'))

    ref = tool([train, str(tmp_path / 'ref.py'), '--work-dir', ref_dir])
    assert ref.returncode == 0, ref.stderr[-3000:]

    mark = f'TPR_TEST_RUN_{uuid.uuid4().hex}'
    killed = tool(  # returns once nothing holds the output pipes any more
        [train, str(tmp_path / 'cut.py'), '--work-dir', cut_dir],
        env={KILL_AT_ITER_ENV: str(KILL_AT), mark: '1'},
        timeout=240,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    if sys.platform.startswith('linux'):  # its DataLoader workers died with it
        deadline = time.time() + 5
        while _processes_marked(mark) and time.time() < deadline:
            time.sleep(0.1)
        assert not _processes_marked(mark), 'DataLoader workers outlived the killed trainer'
    assert os.path.isfile(os.path.join(cut_dir, 'epoch_1.pth'))
    assert not os.path.exists(os.path.join(cut_dir, 'epoch_2.pth'))
    with open(os.path.join(cut_dir, 'last_checkpoint')) as f:
        assert f.read().endswith('epoch_1.pth')

    resumed = tool([train, str(tmp_path / 'cut.py'), '--work-dir', cut_dir, '--resume'])
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    a = load_checkpoint(os.path.join(ref_dir, 'epoch_2.pth'))
    b = load_checkpoint(os.path.join(cut_dir, 'epoch_2.pth'))
    for key in ('state_dict', 'optimizer', 'param_schedulers', 'rng_state'):
        assert_same_tensors(a[key], b[key], key)
    assert a['meta']['epoch'] == b['meta']['epoch'] == 2
    assert a['meta']['iter'] == b['meta']['iter'] == 12
    ma, mb = _val_metrics(ref_dir), _val_metrics(cut_dir)
    assert {k: v for k, v in ma.items() if k.startswith('t2i/')} == {
        k: v for k, v in mb.items() if k.startswith('t2i/')
    }
