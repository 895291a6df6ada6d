# Copyright (c) tpr_mm contributors. All rights reserved.
"""Every leaf config parses, names registered components and builds its model."""

import glob
import os

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tpr_mm.registry import DATASETS, HOOKS, LOOPS, METRICS, MODELS, TRANSFORMS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = sorted(glob.glob(os.path.join(ROOT, 'configs', '*.py')))


def _strip_pretrained(cfg) -> None:
    """Weights are not available offline: build every backbone randomly initialised."""
    if isinstance(cfg, dict):
        if cfg.get('type') == 'HFBertBackbone' and isinstance(cfg.get('pretrained'), str):
            # Same architecture, random init: BertConfig's defaults are BERT-base.
            cfg['config'] = cfg.get('config') or {}
        for key, value in cfg.items():
            if key in ('pretrained', 'teacher_checkpoint', 'checkpoint') and isinstance(value, str):
                cfg[key] = None
            else:
                _strip_pretrained(value)
    elif isinstance(cfg, (list, tuple)):
        for item in cfg:
            _strip_pretrained(item)


def _types(node, found):
    if isinstance(node, dict):
        if isinstance(node.get('type'), str):
            found.append(node['type'])
        for value in node.values():
            _types(value, found)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _types(item, found)
    return found


def test_configs_exist():
    names = {os.path.basename(p) for p in CONFIGS}
    assert 'clip_sdm_synthetic.py' in names
    assert len(names) >= 4


@pytest.mark.parametrize('path', CONFIGS, ids=[os.path.basename(p) for p in CONFIGS])
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'tpr_mm'
    init_default_scope('tpr_mm')
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if not loader:
            continue
        dataset = loader['dataset']
        assert DATASETS.get(dataset['type']) is not None, dataset['type']
        inner = dataset.get('dataset', dataset)
        for t in inner.get('pipeline', []):
            assert TRANSFORMS.get(t['type']) is not None, t['type']
    for key, registry in (('val_evaluator', METRICS), ('test_evaluator', METRICS)):
        ev = cfg.get(key)
        if ev:
            assert registry.get(ev['type']) is not None, ev['type']
    for key in ('val_cfg', 'test_cfg'):
        loop = cfg.get(key)
        if loop and 'type' in loop:
            assert LOOPS.get(loop['type']) is not None, loop['type']
    for hook in cfg.get('custom_hooks', []):
        assert HOOKS.get(hook['type']) is not None, hook['type']
    model_cfg = cfg.model.copy()
    _strip_pretrained(model_cfg)
    model = MODELS.build(model_cfg)
    assert sum(p.numel() for p in model.parameters()) > 0
