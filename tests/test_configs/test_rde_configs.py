# Copyright (c) tpr_mm contributors. All rights reserved.
"""RDE configs: the published recipe (QinYang79/RDE run_rde.sh, processor.py, solver/build.py)."""

import os

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from tpr_mm.registry import HOOKS, MODELS, RUNNERS
from tpr_mm.testing.configs import shrink_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATASETS = {'cuhk': 'CUHK-PEDES', 'icfg': 'ICFG-PEDES', 'rstp': 'RSTPReid'}
NAMES = [f'rde_{d}{n}.py' for d in DATASETS for n in ('', '_noise20', '_noise50', '_noise80')]
STRONG = {'max_iter': 100, 'tol': 1e-4, 'reg_covar': 1e-6}
WEAK = {'max_iter': 10, 'tol': 1e-2, 'reg_covar': 5e-4}


def _load(name):
    return Config.fromfile(os.path.join(ROOT, 'configs', name))


@pytest.mark.parametrize('name', NAMES + ['rde_synthetic.py', 'rde_synthetic_noise50.py'])
def test_published_settings(name):
    cfg = _load(name)
    key = name[4:8]
    rate = float('0.' + name.split('noise')[1][0]) if 'noise' in name else 0.0
    train = cfg.train_dataloader
    assert train.batch_size == 64 and train.dataset.noisy_rate == rate
    if rate and key in DATASETS:
        assert train.dataset.noisy_file == f'data/noiseindex/{DATASETS[key]}_{rate}.npy'
        assert train.dataset.noisy_seed == 1
    types = [t['type'] for t in train.dataset.pipeline]
    assert types.index('CaptionTokenAugment') == types.index('TokenizeCaption') + 1
    aug = [t for t in train.dataset.pipeline if t['type'] == 'CaptionTokenAugment'][0]
    # Apart from the caption augmentation, the baseline's training pipeline of the same data.
    baseline = _load(f'clip_sdm_{key if key in DATASETS else "synthetic"}.py')
    rest = [t for t in train.dataset.pipeline if t['type'] != 'CaptionTokenAugment']
    assert rest == baseline.train_dataloader.dataset.pipeline
    assert (aug['prob'], aug['mask_ratio'], aug['replace_ratio']) == (0.2, 0.6, 0.2)
    hooks = [h for h in cfg.custom_hooks if h.type == 'ConsensusDivisionHook']
    assert len(hooks) == 1 and 'FiniteLossHook' in [h.type for h in cfg.custom_hooks]
    hook = HOOKS.build(hooks[0])
    # RDE: the stronger GaussianMixture above noise 0.4 and on RSTPReid.
    want = STRONG if rate > 0.4 or key == 'rstp' else WEAK
    assert hook.gmm_cfg == want and hook.threshold == 0.5 and hook.dataloader_cfg is None
    # Published numbers: training in eval mode (RDE README, issue #8); synthetic: train mode.
    assert hook.train_in_eval_mode == (key in DATASETS)
    assert cfg.test_evaluator.named_features == ('bge', 'tse')
    model = cfg.model
    assert model.type == 'RDERetriever' and model.bge_weight == 0.5
    for loss in (model.head.bge_loss, model.head.tse_loss):
        assert (loss.type, loss.tau, loss.margin, loss.reduction) == ('TALLoss', 0.015, 0.1, 'sum')
    assert model.visual_tse.ratio == model.text_tse.ratio == 0.3
    if key in DATASETS:
        assert model.visual_tse.embed_dim == 1024 and cfg.train_cfg.max_epochs == 60
        assert cfg.optim_wrapper.optimizer.type == 'Adam' and cfg.optim_wrapper.optimizer.lr == 1e-5
    if key == 'icfg':
        assert cfg.val_dataloader is None and cfg.default_hooks.checkpoint.save_best is None


def test_full_size_model_and_optimizer_groups():
    cfg = _load('rde_cuhk.py')
    cfg.model.backbone.pretrained = None
    init_default_scope('tpr_mm')
    model = MODELS.build(cfg.model)
    assert model.visual_tse.in_channels == model.text_tse.in_channels == 512
    assert model.visual_tse.fc.out_features == 1024
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    groups = {id(p): g for g in wrapper.optimizer.param_groups for p in g['params']}
    params = dict(model.named_parameters())

    def lr_wd(name):
        g = groups[id(params[name])]
        return pytest.approx(g['lr']), pytest.approx(g['weight_decay'])

    # RDE's solver/build.py: CLIP weights 1e-5 / wd 4e-5, CLIP biases 2e-5 / wd 0,
    # TSE layers a fixed 1e-3 (biases without weight decay).
    assert lr_wd('backbone.clip.visual.transformer.resblocks.0.mlp.c_fc.weight') == (1e-5, 4e-5)
    assert lr_wd('backbone.clip.visual.transformer.resblocks.0.mlp.c_fc.bias') == (2e-5, 0.0)
    for prefix in ('visual_tse.', 'text_tse.'):
        for name in [n for n in params if n.startswith(prefix)]:
            assert lr_wd(name) == (1e-3, 0.0 if name.endswith('bias') else 4e-5), name
    # Full-size forward: 57 of 192 patches and 22 of 75 caption positions are selected.
    model.eval()
    with torch.no_grad():
        img = model.encode_image(torch.zeros(1, 3, 384, 128))
        text = torch.zeros(1, 77, dtype=torch.long)
        text[0, :4] = torch.tensor([49406, 320, 1929, 49407])
        txt = model.encode_text(text)
    assert img['tse'].shape == txt['tse'].shape == (1, 1024)
    assert int(192 * 0.3) == 57 and int(75 * 0.3) == 22


def test_tiny_clean_config_trains_and_reports_three_rows(tmp_path):
    cfg = shrink_config(
        _load('rde_synthetic.py'), str(tmp_path / 'work'), str(tmp_path / 'data'), 1
    )
    cfg.experiment_name = 'rde_tiny_clean'
    runner = RUNNERS.build(cfg)
    runner.train()
    metrics = runner.test()
    for prefix in ('t2i/', 't2i/bge/', 't2i/tse/'):
        assert 0.0 <= metrics[f'{prefix}R1'] <= 100.0 and f'{prefix}mINP' in metrics
    assert runner.model.head.clean_weights.numel() == len(runner.train_dataloader.dataset)
