# Copyright (c) tpr_mm contributors. All rights reserved.
"""IRRA configs: the published hyper-parameters, IRRA's learning-rate rule on the model's
parameter names, and a tiny train -> test run on the synthetic set whose losses are SDM/ID/MLM."""

import copy
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from tpr_mm.registry import MODELS, RUNNERS
from tpr_mm.testing.configs import TINY_SYNTHETIC, shrink_config, tiny_model_cfg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLASSES = {'irra_cuhk': 11003, 'irra_icfg': 3102, 'irra_rstp': 3701, 'irra_synthetic': 120}


def _load(name):
    return Config.fromfile(os.path.join(ROOT, 'configs', f'{name}.py'))


def _tiny(model, classes=4):
    model = copy.deepcopy(model)
    model.backbone.update(
        pretrained=None,
        img_size=(32, 16),
        context_length=24,
        model_cfg=tiny_model_cfg((32, 16), 24),
    )
    model.head.losses[1].update(in_channels=32, num_classes=classes)
    model.head.irr.update(embed_dims=32, num_heads=2)
    model.head.mlm_head.update(embed_dims=32)
    return model


@pytest.mark.parametrize('name', sorted(CLASSES))
def test_published_hyper_parameters(name):
    cfg = _load(name)
    m = cfg.model
    assert m.type == 'IRRARetriever' and m.head.type == 'IRRAHead'
    sdm, idl = m.head.losses
    assert sdm.type == 'SDMLoss' and sdm.temperature == 0.02 and sdm.loss_weight == 1.0
    assert idl.type == 'IDLoss' and idl.num_classes == CLASSES[name] and idl.loss_weight == 1.0
    assert m.head.irr.num_layers == 4  # cmt_depth
    assert m.head.irr.num_heads == m.head.irr.embed_dims // 64 or name == 'irra_synthetic'
    assert m.head.mlm_head.vocab_size == 49408 and m.head.mlm_loss.loss_weight == 1.0
    pipe = cfg.train_dataloader.dataset.pipeline
    types = [t['type'] for t in pipe]
    assert types.index('MaskCaptionTokens') == types.index('TokenizeCaption') + 1
    mask = pipe[types.index('MaskCaptionTokens')]
    assert (mask.select_prob, mask.mask_prob, mask.random_prob) == (0.15, 0.8, 0.1)
    assert mask.mask_token_id == 49405 and mask.replace_text is True  # published behaviour
    for key in ('val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader:
            assert 'MaskCaptionTokens' not in [t['type'] for t in loader.dataset.pipeline]
    if name != 'irra_synthetic':
        assert m.backbone.img_size == (384, 128) and m.head.irr.embed_dims == 512
        assert cfg.train_dataloader.batch_size == 64 and cfg.train_cfg.max_epochs == 60
        assert cfg.optim_wrapper.optimizer.type == 'Adam'
        assert cfg.optim_wrapper.optimizer.eps == 1e-3


def irra_reference_lr(name, lr=1e-5, wd=4e-5):
    """anosorae/IRRA:solver/build.py, rules in order, later ones override."""
    out_lr, out_wd = lr, wd
    if 'cross' in name:
        out_lr = lr * 5
    if 'bias' in name:
        out_lr, out_wd = lr * 2, 0.0
    if 'classifier' in name or 'mlm_head' in name:
        out_lr = lr * 5
    return out_lr, out_wd


def test_learning_rates_follow_irra_rule():
    cfg = _load('irra_cuhk')
    init_default_scope('tpr_mm')
    assert cfg.optim_wrapper.constructor == 'IRRAOptimWrapperConstructor'
    torch.manual_seed(0)
    model = MODELS.build(_tiny(cfg.model))
    opt = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    by_param = {}
    for group in opt.param_groups:
        for p in group['params']:
            by_param[id(p)] = (group['lr'], group['weight_decay'])
    checked = 0
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert by_param[id(p)] == pytest.approx(irra_reference_lr(name)), name
            checked += 1
    assert checked > 50
    # Spot checks of the net effect (weights 5e-5, encoder biases 2e-5, its LayerNorms 1e-5).
    assert irra_reference_lr('head.irr.cross_attn.in_proj_weight') == (5e-5, 4e-5)
    assert irra_reference_lr('head.irr.ln_post.weight') == (1e-5, 4e-5)
    assert irra_reference_lr('head.mlm_head.fc.bias') == (5e-5, 0.0)


def test_synthetic_config_trains_with_sdm_id_mlm_and_tests(tmp_path):
    cfg = shrink_config(
        _load('irra_synthetic'), str(tmp_path / 'work'), str(tmp_path / 'data'), max_epochs=1
    )
    cfg.model = _tiny(cfg.model, classes=TINY_SYNTHETIC['num_train_ids'])
    cfg.experiment_name = 'irra_synthetic_smoke'
    runner = RUNNERS.build(cfg)
    runner.train()
    logged = runner.message_hub.log_scalars
    for key in ('train/loss_sdm', 'train/loss_id', 'train/loss_mlm'):
        assert key in logged, sorted(logged)
        assert torch.isfinite(torch.tensor(logged[key].current()))
    assert 'train/acc_mlm' in logged
    metrics = runner.test()
    assert set(metrics) == {'t2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP', 't2i/mINP'}


def test_clean_caption_ablation_differs_only_in_the_switch():
    base, clean = _load('irra_synthetic'), _load('ablations/irra_synthetic_clean_captions')
    pb, pc = base.train_dataloader.dataset.pipeline, clean.train_dataloader.dataset.pipeline
    assert [t['type'] for t in pb] == [t['type'] for t in pc]
    for a, b in zip(pb, pc):
        if a['type'] == 'MaskCaptionTokens':
            assert a['replace_text'] is True and b['replace_text'] is False
            assert dict(a, replace_text=False) == dict(b)
        else:
            assert a == b
    assert base.model == clean.model


@pytest.mark.parametrize('name', ['irra_cuhk', 'irra_icfg', 'irra_rstp'])
def test_documented_cfg_option_index_is_the_mask_transform(name):
    """docs/methods/irra.md: pipeline.6.replace_text=False switches to clean captions."""
    assert _load(name).train_dataloader.dataset.pipeline[6]['type'] == 'MaskCaptionTokens'


def test_metafile():
    yaml = pytest.importorskip('yaml')
    with open(os.path.join(ROOT, 'configs', 'metafiles', 'irra.yml')) as f:
        meta = yaml.safe_load(f)
    (coll,) = meta['Collections']
    assert coll['Name'] == 'IRRA' and os.path.isfile(os.path.join(ROOT, coll['README']))
    assert coll['Paper']['URL'] == 'https://arxiv.org/abs/2303.12501'
    published = {
        'irra_cuhk': ('CUHK-PEDES', [73.38, 89.93, 93.71, 66.13, 50.24]),
        'irra_icfg': ('ICFG-PEDES', [63.46, 80.25, 85.82, 38.06, 7.93]),
        'irra_rstp': ('RSTPReid', [60.20, 81.30, 88.20, 47.17, 25.28]),
    }
    configs = {}
    for m in meta['Models']:
        configs[m['Name']] = m['Config']
        assert m['In Collection'] == 'IRRA'
        assert os.path.isfile(os.path.join(ROOT, m['Config']))
        if m['Name'].startswith('irra_synthetic'):
            assert m['Metadata']['Training Data'] == 'Synthetic' and 'Results' not in m
            assert m['Metadata']['Architecture Kind'] == 'adaptation'
            continue
        assert m['Metadata']['Architecture Kind'] == 'published'
        data, numbers = published[m['Name']]
        (res,) = m['Results']
        assert m['Metadata']['Training Data'] == data == res['Dataset']
        assert res['Task'] == 'Text-to-Image Person Retrieval'
        keys = ('Rank-1', 'Rank-5', 'Rank-10', 'mAP', 'mINP')
        assert [res['Metrics'][k] for k in keys] == numbers
    assert configs == {
        **{name: f'configs/{name}.py' for name in CLASSES},
        'irra_synthetic_clean_captions': 'configs/ablations/irra_synthetic_clean_captions.py',
    }
