# Copyright (c) tpr_mm contributors. All rights reserved.
"""Two CPU processes (gloo, through the real launch scripts) agree with one."""

import glob
import json
import os
import warnings

import pytest
import torch

from tpr_mm.datasets import CUHKPEDES

pytestmark = pytest.mark.slow  # three launches, two of them with two processes


def _launch(tool, script, args):
    """Run a launch script; relaunch once if gloo's TCP transport aborts a process.

    The abort is the C++ one that ``gloo_spawn`` describes ("terminate called
    without an active exception"); it is retried once, with a warning that keeps
    the output; any other failure, or a second abort,
    fails the test. The aborted launch's work dir is moved aside first: its files
    (checkpoints, a test log when only rank 1 died at exit) would otherwise meet
    the relaunch, which refuses to train over an earlier run's checkpoints.
    """
    work_dir = str(args[args.index('--work-dir') + 1])
    for attempt in range(2):
        if attempt and os.path.exists(work_dir):
            os.rename(work_dir, work_dir + '.aborted')
        proc = tool(
            ['bash', os.path.join(tool.root, 'tools', script)] + args,
            python=False,
            env=dict(PORT=str(tool.free_port())),
        )
        aborted = 'terminate called without an active exception' in proc.stdout + proc.stderr
        if proc.returncode == 0 or not aborted or attempt:
            return proc
        warnings.warn(
            f'{script}: gloo aborted a process; relaunching once\n{proc.stderr[-2000:]}',
            stacklevel=2,
        )


def _test_metrics(work_dir):
    (path,) = glob.glob(os.path.join(work_dir, '2*', '2*.json'))
    with open(path) as f:
        metrics = json.load(f)
    return {k: v for k, v in metrics.items() if k.startswith('t2i/')}


@pytest.fixture(scope='module')
def two_process_run(tiny_cfg, tool, tmp_path_factory):
    """One epoch trained by tools/dist_train.sh with 2 processes."""
    base = tmp_path_factory.mktemp('dist')
    cfg = tiny_cfg(base / 'train', max_epochs=1)
    cfg.randomness = dict(seed=0, deterministic=False)  # as the shipped configs
    cfg_path = str(base / 'tiny.py')
    cfg.dump(cfg_path)
    proc = _launch(tool, 'dist_train.sh', [cfg_path, '2', '--work-dir', base / 'train'])
    return proc, cfg_path, base


def test_two_process_training_completes_and_checkpoints_once(two_process_run):
    proc, _, base = two_process_run
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert 'using the gloo distributed backend' in proc.stdout
    files = sorted(os.listdir(base / 'train'))
    assert [f for f in files if f.endswith('.pth')] == ['best_t2i_R1_epoch_1.pth', 'epoch_1.pth']
    assert not [f for f in files if f.endswith('.tmp')]
    from tpr_mm.engine.runner import mmengine_safe_globals

    with mmengine_safe_globals():
        ckpt = torch.load(str(base / 'train' / 'epoch_1.pth'), map_location='cpu')
    assert ckpt['meta']['iter'] == 3  # 48 pairs / (2 processes x 8)
    assert len(ckpt['rng_state']['states']) == 2  # both ranks' generators, one file


def test_two_process_evaluation_equals_one_process(two_process_run, tiny_data, tool):
    proc, cfg_path, base = two_process_run
    assert proc.returncode == 0
    gallery = CUHKPEDES(tiny_data, split='test', modality='image')
    assert len(gallery) % 2 == 1  # the padded sampler repeats one gallery image
    ckpt = str(base / 'train' / 'epoch_1.pth')
    single = tool(
        [
            os.path.join(tool.root, 'tools', 'test.py'),
            cfg_path,
            ckpt,
            '--work-dir',
            str(base / 'test1'),
        ]
    )
    assert single.returncode == 0, single.stderr[-3000:]
    double = _launch(tool, 'dist_test.sh', [cfg_path, ckpt, '2', '--work-dir', base / 'test2'])
    assert double.returncode == 0, double.stderr[-3000:]
    one, two = _test_metrics(str(base / 'test1')), _test_metrics(str(base / 'test2'))
    assert set(one) == {'t2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP', 't2i/mINP'}
    assert one == two
    assert double.stdout.count('Text-to-image retrieval on the test split') == 1  # rank 0 only


def test_relaunch_after_a_gloo_abort_starts_in_a_clean_work_dir(tmp_path):
    """The retry must not meet the aborted launch's files (a naive fake launcher)."""
    import subprocess

    work_dir = tmp_path / 'train'
    calls = []

    def fake_tool(cmd, python=True, env=None):
        calls.append(sorted(os.listdir(work_dir)) if work_dir.exists() else None)
        work_dir.mkdir()
        (work_dir / 'epoch_1.pth').write_bytes(b'from this launch')
        if len(calls) == 1:
            stderr = 'terminate called without an active exception\n'
            return subprocess.CompletedProcess(cmd, 134, '', stderr)
        return subprocess.CompletedProcess(cmd, 0, 'done', '')

    fake_tool.root = str(tmp_path)
    fake_tool.free_port = lambda: 29500
    with pytest.warns(UserWarning, match='relaunching once'):
        proc = _launch(fake_tool, 'dist_train.sh', ['tiny.py', '2', '--work-dir', work_dir])
    assert proc.returncode == 0
    assert calls == [None, None]  # the relaunch found no work dir
    assert os.listdir(str(work_dir) + '.aborted') == ['epoch_1.pth']  # kept for inspection
