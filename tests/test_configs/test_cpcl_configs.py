# Copyright (c) tpr_mm contributors. All rights reserved.
"""Every CPCL / weakly supervised ITC config parses and builds its model."""

import os

import pytest
import torch
from mmengine.config import Config

from tpr_mm.registry import HOOKS, MODELS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASETS = ('cuhk', 'icfg', 'rstp', 'synthetic')
CPCL = [f'cpcl_{d}.py' for d in DATASETS] + [
    'ablations/cpcl_synthetic_no_pmm.py',
    'ablations/cpcl_synthetic_no_cross.py',
    'ablations/cpcl_synthetic_no_oplm.py',
]
ITC = [f'clip_itc_weak_{d}.py' for d in DATASETS]
_BUILT = {}


def _load(name):
    return Config.fromfile(os.path.join(ROOT, 'configs', name))


def _build_model(cfg):
    cfg.model.backbone.pretrained = None
    key = cfg.model.pretty_text if hasattr(cfg.model, 'pretty_text') else repr(cfg.model)
    if key not in _BUILT:  # identical model configs (cuhk/icfg/rstp) are built once
        _BUILT[key] = MODELS.build(cfg.model)
    return _BUILT[key]


@pytest.mark.parametrize('name', CPCL + ITC)
def test_config_builds_model_and_drops_train_identities(name):
    cfg = _load(name)
    model = _build_model(cfg)
    assert cfg.train_dataloader.dataset.identity == 'drop'
    for key in ('val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            assert cfg[key].dataset.get('identity', 'keep') == 'keep'  # evaluation needs ids
    if name.startswith('clip_itc'):
        assert [type(m).__name__ for m in model.head.losses] == ['ITCLoss']


@pytest.mark.parametrize('name', CPCL)
def test_cpcl_config_has_hook_and_head(name):
    cfg = _load(name)
    hooks = [h for h in cfg.custom_hooks if h.type == 'PseudoLabelHook']
    assert len(hooks) == 1
    hook = HOOKS.build(hooks[0])
    if 'synthetic' not in name:  # defaults (docs/methods/cpcl.md#defaults-and-their-sources)
        assert hook.cluster_cfg == {'k1': 30, 'k2': 6, 'eps': 0.6, 'min_samples': 4}
        assert hook.oplm and hook.oplm_gate is None and hook.start_epoch == 0
    assert hook.oplm == ('no_oplm' not in name)
    if 'no_oplm' in name:  # only OPLM differs from the full synthetic recipe
        full = HOOKS.build([h for h in _load('cpcl_synthetic.py').custom_hooks if 'oplm' in h][0])
        assert (hook.cluster_cfg, hook.start_epoch) == (full.cluster_cfg, full.start_epoch)
    model = _build_model(cfg)
    assert type(model.head).__name__ == 'CPCLHead'
    names = {m.loss_name for m in model.head.losses}
    assert 'loss_sdm' in names
    if 'no_pmm' in name:
        assert model.head.img_memory is None and names == {'loss_sdm'}
    elif 'no_cross' in name:
        assert names == {'loss_sdm', 'loss_proto_intra'}
    else:
        assert names == {'loss_sdm', 'loss_proto_intra', 'loss_proto_cross'}
        assert model.head.img_memory.momentum == 0.2


def test_icfg_configs_select_no_checkpoint_on_test():
    for name in ('cpcl_icfg.py', 'clip_itc_weak_icfg.py'):
        cfg = _load(name)
        assert cfg.val_dataloader is None and cfg.default_hooks.checkpoint.save_best is None


def test_built_cpcl_model_encodes_without_pseudo_labels():
    cfg = _load('cpcl_synthetic.py')
    model = _build_model(cfg)
    model.eval()
    (h, w), ctx = cfg.model.backbone.img_size, cfg.model.backbone.context_length
    with torch.no_grad():
        feats = model.extract_feat(
            {'img': torch.zeros(2, 3, h, w), 'text': torch.zeros(2, ctx, dtype=torch.long)}
        )
    assert feats['img_feats'].shape == feats['text_feats'].shape == (2, 128)
