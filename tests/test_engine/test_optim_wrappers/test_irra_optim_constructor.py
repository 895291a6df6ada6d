# Copyright (c) tpr_mm contributors. All rights reserved.
"""IRRA's parameter groups: (lr, weight decay) of every parameter against IRRA's build_optimizer."""

import os

import pytest
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from tpr_mm.engine.optim_wrappers import IRRAOptimWrapperConstructor
from tpr_mm.registry import MODELS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def irra_setting(name, lr=1e-5, weight_decay=4e-5, lr_factor=5.0, bias_lr_factor=2.0):
    """anosorae/IRRA:solver/build.py build_optimizer, restated line by line (wd on biases 0)."""
    p_lr, p_wd = lr, weight_decay
    if 'cross' in name:
        p_lr = lr * lr_factor
    if 'bias' in name:
        p_lr = lr * bias_lr_factor
        p_wd = 0.0
    if 'classifier' in name or 'mlm_head' in name:
        p_lr = lr * lr_factor
    return p_lr, p_wd


def _strip(node):
    """Random init everywhere (no weights offline)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ('pretrained', 'teacher_checkpoint', 'checkpoint') and isinstance(value, str):
                node[key] = None
            else:
                _strip(value)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _strip(item)


def _groups_by_param(wrapper):
    found = {}
    for group in wrapper.optimizer.param_groups:
        assert len(group['params']) == 1  # one group per parameter, as IRRA
        found[id(group['params'][0])] = (group['lr'], group['weight_decay'])
    return found


def _check_every_parameter(model, wrapper, setting=irra_setting):
    found = _groups_by_param(wrapper)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert len(found) == len(trainable)  # frozen parameters left out, as IRRA
    for name, param in trainable:
        assert found[id(param)] == pytest.approx(setting(name), rel=1e-12), name


@pytest.mark.parametrize('name', ['clip_sdm_cuhk', 'cpcl_cuhk'])
def test_full_size_model_every_parameter(name):
    """ViT-B/16 baseline and CPCL at their real size, random weights."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', f'{name}.py'))
    init_default_scope('tpr_mm')
    model_cfg = cfg.model.copy()
    _strip(model_cfg)
    model = MODELS.build(model_cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    assert type(wrapper.optimizer).__name__ == 'Adam' and wrapper.optimizer.defaults['eps'] == 1e-3
    _check_every_parameter(model, wrapper)
    names = [n for n, _ in model.named_parameters()]
    # The cases MMEngine's bias_lr_mult gets wrong are present and follow IRRA.
    by_name = dict(model.named_parameters())
    found = _groups_by_param(wrapper)
    in_proj = next(n for n in names if n.endswith('attn.in_proj_bias'))
    norm_bias = next(n for n in names if n.endswith('ln_1.bias'))
    assert found[id(by_name[in_proj])] == pytest.approx((2e-5, 0.0))
    assert found[id(by_name[norm_bias])] == pytest.approx((2e-5, 0.0))
    if name == 'clip_sdm_cuhk':
        assert found[id(by_name['head.losses.1.classifier.weight'])] == pytest.approx((5e-5, 4e-5))
        assert found[id(by_name['head.losses.1.classifier.bias'])] == pytest.approx((5e-5, 0.0))


class _AllRules(nn.Module):
    """Names hitting every IRRA rule and their combinations."""

    def __init__(self):
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(4, 2)  # in_proj_weight / in_proj_bias
        self.cross_ln = nn.LayerNorm(4)
        self.classifier = nn.Linear(4, 3)
        self.mlm_head = nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4))
        self.encoder = nn.Linear(4, 4)
        self.frozen = nn.Linear(4, 4)
        self.frozen.requires_grad_(False)


def test_every_rule_and_order_small_model():
    model = _AllRules()
    cfg = dict(
        type='OptimWrapper',
        optimizer=dict(type='Adam', lr=1e-5, weight_decay=4e-5, eps=1e-3),
        constructor='IRRAOptimWrapperConstructor',  # default rules: IRRA's
    )
    init_default_scope('tpr_mm')
    wrapper = build_optim_wrapper(model, cfg)
    _check_every_parameter(model, wrapper)
    found = _groups_by_param(wrapper)
    params = dict(model.named_parameters())
    assert found[id(params['cross_attn.in_proj_bias'])] == pytest.approx((2e-5, 0.0))
    assert found[id(params['cross_ln.weight'])] == pytest.approx((5e-5, 4e-5))
    assert found[id(params['mlm_head.0.bias'])] == pytest.approx((5e-5, 0.0))


def test_leaf_config_appends_a_rule():
    """lcr2s configs add rules after IRRA's by merging the rules dict."""
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'lcr2s_student_cuhk.py'))
    rules = cfg.optim_wrapper.paramwise_cfg.rules
    # IRRA's rules first, then the teacher's `fusion` (inherited) and the student's own rule.
    assert list(rules) == ['cross', 'bias', 'classifier', 'mlm_head', 'fusion', 'reasoning']
    ctor = IRRAOptimWrapperConstructor(
        dict(optimizer=dict(type='Adam', lr=1e-5, weight_decay=4e-5)),
        cfg.optim_wrapper.paramwise_cfg,
    )
    assert ctor.param_setting('reasoning.fc.weight') == pytest.approx(
        dict(lr=5e-5, weight_decay=4e-5)
    )
    assert ctor.param_setting('reasoning.fc.bias') == pytest.approx(dict(lr=5e-5, weight_decay=0.0))
    assert ctor.param_setting('backbone.x.bias') == pytest.approx(dict(lr=2e-5, weight_decay=0.0))


def test_rejects_mmengine_fields_and_bad_rules():
    base = dict(optimizer=dict(type='Adam', lr=1e-5, weight_decay=4e-5))
    with pytest.raises(ValueError, match='custom_keys'):
        IRRAOptimWrapperConstructor(base, dict(custom_keys={'x': dict(lr_mult=2.0)}))
    with pytest.raises(ValueError, match="rule 'x'"):
        IRRAOptimWrapperConstructor(base, dict(rules=dict(x=dict(lr_multt=2.0))))
    with pytest.raises(ValueError, match='weight_decay'):
        IRRAOptimWrapperConstructor(dict(optimizer=dict(type='Adam', lr=1e-5)), None)
    # A frozen model has no parameter to optimise: torch's own error, not a silent no-op.
    model = nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError):
        IRRAOptimWrapperConstructor(dict(base, type='OptimWrapper'))(model)
