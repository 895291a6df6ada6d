# Copyright (c) tpr_mm contributors. All rights reserved.
"""Every shipped config lists the hooks its runs use (nothing is added behind it)."""

import glob
import os.path as osp

import pytest
from mmengine.config import Config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
LEAVES = sorted(
    osp.relpath(p, ROOT)
    for p in glob.glob(osp.join(ROOT, 'configs', '**', '*.py'), recursive=True)
    if '_base_' not in p
)


@pytest.mark.parametrize('path', LEAVES)
def test_config_lists_every_runtime_hook(path):
    cfg = Config.fromfile(osp.join(ROOT, path))
    assert cfg.default_hooks.rng_state.type == 'RNGStateHook'
    assert cfg.default_hooks.data_issues.type == 'DataIssueReportHook'
    assert cfg.default_hooks.checkpoint.type == 'TPRCheckpointHook'
    custom = [h.type for h in cfg.custom_hooks]
    assert custom[0] == 'FiniteLossHook'
    if osp.basename(path).startswith('cpcl_'):
        # custom_hooks.1 is the pseudo-label hook (docs/methods/cpcl.md's overrides)
        assert custom == ['FiniteLossHook', 'PseudoLabelHook']
        assert cfg.custom_hooks[1] == cfg.pseudo_label_hook
    if cfg.model.get('type') == 'LCR2SStudent':  # the teacher is built by a listed hook
        assert custom == ['FiniteLossHook', 'FrozenTeacherHook']
    if osp.basename(path).startswith('rde_'):
        assert custom == ['FiniteLossHook', 'ConsensusDivisionHook']
        assert cfg.custom_hooks[1] == cfg.division_hook


def test_cpcl_leaves_change_one_field_of_the_pseudo_label_hook():
    base = Config.fromfile(osp.join(ROOT, 'configs/cpcl_synthetic.py')).pseudo_label_hook
    ablation = Config.fromfile(osp.join(ROOT, 'configs/ablations/cpcl_synthetic_no_oplm.py'))
    assert ablation.custom_hooks[1] == dict(base, oplm=False)
