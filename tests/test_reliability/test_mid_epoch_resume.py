# Copyright (c) tpr_mm contributors. All rights reserved.
"""A run SIGKILLed mid-epoch resumes from its iteration checkpoint exactly.

With MMEngine's EpochBasedTrainLoop, a run resumed from an iteration
checkpoint trains the interrupted epoch from its first batch again;
MidEpochResumeTrainLoop skips the batches already trained, and with the
shipped worker settings the resumed run ends bit-identical to an
uninterrupted one.
"""

import glob
import os
import signal

import pytest
from resume_helpers import assert_same_tensors, load_checkpoint

from tpr_mm.testing.faults import KILL_AT_ITER_ENV

KILL_AT = 10  # epoch 2, batch 4 of 6: the newest checkpoint is iter_9 (mid-epoch)


def _config(tiny_cfg, work_dir, path, config='clip_sdm_synthetic.py'):
    cfg = tiny_cfg(work_dir, max_epochs=2, config=config)
    cfg.custom_imports = dict(imports=['tpr_mm.testing.faults'], allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='SigKillAtIterHook')]
    cfg.train_cfg.type = 'MidEpochResumeTrainLoop'
    cfg.log_level = 'INFO'  # the hooks' resume messages are checked
    cfg.default_hooks.checkpoint.update(by_epoch=False, interval=3, max_keep_ckpts=1)
    pipeline = cfg.train_dataloader.dataset.pipeline
    pipeline.insert(2, dict(type='RandomHorizontalFlip', prob=0.5))
    for key in ('train_dataloader', 'val_dataloader'):
        cfg[key].update(num_workers=2, persistent_workers=True)
    cfg.dump(path)


@pytest.mark.slow  # three training launches, with 2 persistent workers per loader
@pytest.mark.parametrize(
    'config', ['clip_sdm_synthetic.py', 'cpcl_synthetic.py', 'rde_synthetic_noise50.py']
)
def test_sigkill_then_resume_from_iteration_checkpoint_is_exact(tiny_cfg, tool, tmp_path, config):
    """For CPCL the epoch's pseudo labels and memories come from the checkpoint,
    for RDE the epoch's clean / noisy division."""
    train = os.path.join(tool.root, 'tools', 'train.py')
    ref_dir, cut_dir = str(tmp_path / 'ref'), str(tmp_path / 'cut')
    _config(tiny_cfg, ref_dir, str(tmp_path / 'ref.py'), config)
    _config(tiny_cfg, cut_dir, str(tmp_path / 'cut.py'), config)

    ref = tool([train, str(tmp_path / 'ref.py'), '--work-dir', ref_dir])
    assert ref.returncode == 0, ref.stderr[-3000:]
    killed = tool(
        [train, str(tmp_path / 'cut.py'), '--work-dir', cut_dir],
        env={KILL_AT_ITER_ENV: str(KILL_AT)},
        timeout=240,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    with open(os.path.join(cut_dir, 'last_checkpoint')) as f:
        assert f.read().endswith('iter_9.pth')

    resumed = tool([train, str(tmp_path / 'cut.py'), '--work-dir', cut_dir, '--resume'])
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    a = load_checkpoint(os.path.join(ref_dir, 'iter_12.pth'))
    b = load_checkpoint(os.path.join(cut_dir, 'iter_12.pth'))
    for key in ('state_dict', 'optimizer', 'param_schedulers', 'rng_state'):
        assert_same_tensors(a[key], b[key], key)
    assert a['meta']['iter'] == b['meta']['iter'] == 12
    assert not os.path.exists(os.path.join(cut_dir, 'iter_15.pth'))
    log = sorted(glob.glob(os.path.join(cut_dir, '2*', '2*.log')))[-1]  # the resumed run's
    with open(log) as f:
        log = f.read()
    state = b['state_dict']
    if config == 'cpcl_synthetic.py':
        assert 'resumed mid-epoch 2, keeping the labels and memories' in log
        assert (state['head.img_pseudo_labels'] >= 0).any()  # clusters, not all outliers
        assert state['head.img_memory.bank'].shape[0] > 0  # so the memories were exercised
    if config.startswith('rde_'):
        assert 'resumed mid-epoch 2, keeping the division' in log
        weights = state['head.clean_weights']
        assert weights.numel() == 48 and 0 < weights.sum() < 48  # both clean and noisy pairs
