# Copyright (c) tpr_mm contributors. All rights reserved.
"""Config typos name the registry and the closest names; misfit checkpoints list the keys."""

import copy

import pytest
import torch
from mmengine.hooks import CheckpointHook
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import DefaultScope

from tpr_mm.engine.runner import CheckpointMismatchError
from tpr_mm.registry import DATASETS, HOOKS, MODELS, RUNNERS, TRANSFORMS, UnknownTypeError


@pytest.mark.parametrize(
    'registry,type_,expected',
    [
        (MODELS, 'TextImageRetrievr', "'TextImageRetriever'"),
        (MODELS, 'SDMLos', "'SDMLoss'"),
        (HOOKS, 'CheckpointHok', "'CheckpointHook'"),  # found in MMEngine's parent registry
        (TRANSFORMS, 'LoadPersonImg', "'LoadPersonImage'"),
        (DATASETS, 'CUHKPedes', "'CUHKPEDES'"),  # case-insensitive
        (MODELS, 'mmpretrain.ResNt', "'mmpretrain.ResNet'"),  # another scope
    ],
)
def test_typo_names_registry_and_closest(registry, type_, expected):
    with pytest.raises(UnknownTypeError) as err:
        registry.build(dict(type=type_))
    message = str(err.value)
    assert isinstance(err.value, KeyError)  # what MMEngine raises, for old handlers
    assert f"'{type_}' is not in the {registry.name} registry" in message
    assert 'closest registered names: ' + expected in message


def test_typo_in_a_whole_config_through_the_runner(tiny_cfg, tmp_path):
    cfg = tiny_cfg(tmp_path / 'work')
    cfg.model.head.losses[0]['type'] = 'SMDLoss'
    with pytest.raises(
        KeyError,
        match=r"'SMDLoss' is not in the model registry \(searched "
        r'tpr_mm::model, then mmpretrain::model, then mmengine::model\); closest '
        r"registered names: 'SDMLoss'",
    ):
        RUNNERS.build(cfg)
    cfg = tiny_cfg(tmp_path / 'work2')
    cfg.custom_hooks = [dict(type='FiniteLosHook')]
    with pytest.raises(KeyError, match=r"closest registered names: 'FiniteLossHook'"):
        RUNNERS.build(cfg)


def test_optimizer_typo_is_named_too():
    from mmengine.optim import build_optim_wrapper

    model = torch.nn.Linear(2, 2)
    with DefaultScope.overwrite_default_scope('tpr_mm'):
        # MMEngine alone fails here with "TypeError: None is not a callable object".
        with pytest.raises(KeyError, match="'AdmaW' is not in the optimizer registry.*'AdamW'"):
            build_optim_wrapper(model, dict(optimizer=dict(type='AdmaW', lr=0.1)))
        wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='AdamW', lr=0.1)))
        assert type(wrapper.optimizer).__name__ == 'AdamW'


def test_nothing_similar_and_unknown_scope():
    with pytest.raises(UnknownTypeError, match='no similar name among'):
        MODELS.build(dict(type='Qwxyzzy'))
    with pytest.raises(UnknownTypeError, match="no registry has the scope 'nosuchpkg'"):
        MODELS.build(dict(type='nosuchpkg.Net'))


def test_lookups_outside_builds_and_normal_builds_are_unchanged():
    # get() keeps MMEngine's contract: None for unknown names.
    assert MODELS.get('TextImageRetrievr') is None
    assert MODELS.get('mmpretrain.NoSuchNet') is None
    assert MODELS.get('SDMLoss').__name__ == 'SDMLoss'
    assert HOOKS.get('CheckpointHook') is CheckpointHook  # parent fallback
    assert MODELS.get('mmpretrain.ResNet').__name__ == 'ResNet'  # other scope
    loss = MODELS.build(dict(type='SDMLoss'))
    assert type(loss).__name__ == 'SDMLoss'
    with DefaultScope.overwrite_default_scope('tpr_mm'):
        # MMEngine's root registry switches to ours under the tpr_mm scope.
        assert type(MMENGINE_MODELS.build(dict(type='SDMLoss'))).__name__ == 'SDMLoss'
        net = MMENGINE_MODELS.build(dict(type='mmpretrain.ResNet', depth=18))
        assert type(net).__name__ == 'ResNet'
        with pytest.raises(KeyError, match="closest registered names: 'SDMLoss'"):
            MMENGINE_MODELS.build(dict(type='SDMLos'))


def _test_runner(tiny_cfg, work, embed_dim=32, **extra):
    cfg = tiny_cfg(work)
    cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = cfg.param_scheduler = None
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.model.backbone.model_cfg['embed_dim'] = embed_dim
    cfg.merge_from_dict(extra)
    return RUNNERS.build(cfg)


def test_checkpoint_that_does_not_fit_lists_the_mismatched_keys(tiny_cfg, tmp_path):
    source = _test_runner(tiny_cfg, tmp_path / 'a', embed_dim=48)
    path = str(tmp_path / 'wider.pth')
    torch.save({'state_dict': source.model.state_dict(), 'meta': {}}, path)

    runner = _test_runner(tiny_cfg, tmp_path / 'b', embed_dim=32)
    before = copy.deepcopy(runner.model.state_dict())
    with pytest.raises(CheckpointMismatchError) as err:
        runner.load_checkpoint(path)
    message = str(err.value)
    assert path in message and 'do not fit the model' in message
    assert 'backbone.clip.text_projection: checkpoint (32, 48) vs model (32, 32)' in message
    assert 'backbone.clip.visual.proj: checkpoint (32, 48) vs model (32, 32)' in message
    assert 'allow_shape_mismatch=True' in message
    for key, value in runner.model.state_dict().items():  # nothing was half-loaded
        assert torch.equal(value, before[key]), key

    # Opting out loads what fits and keeps the rest.
    lenient = _test_runner(tiny_cfg, tmp_path / 'c', embed_dim=32, allow_shape_mismatch=True)
    lenient.load_checkpoint(path)
    loaded = lenient.model.state_dict()
    key = 'backbone.clip.token_embedding.weight'
    assert torch.equal(loaded[key], source.model.state_dict()[key])


def test_checkpoint_of_another_model_is_refused(tiny_cfg, tmp_path):
    path = str(tmp_path / 'other.pth')
    torch.save({'state_dict': {'encoder.weight': torch.zeros(3)}, 'meta': {}}, path)
    runner = _test_runner(tiny_cfg, tmp_path / 'w')
    with pytest.raises(CheckpointMismatchError, match=r'none of the model.s \d+ parameter'):
        runner.load_checkpoint(path)
