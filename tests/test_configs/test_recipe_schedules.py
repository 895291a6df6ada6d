# Copyright (c) tpr_mm contributors. All rights reserved.
"""Per-epoch lr of every parameter group, for every epoch, against the reference rules.

A real runner is built from each shipped config (a tiny model stands in for the towers: the
schedule does not depend on their size); its optimiser wrapper and parameter schedulers are
stepped exactly as MMEngine's ``ParamSchedulerHook`` does after each training epoch.
"""

import copy
import math
import os
from bisect import bisect_right

import pytest
from mmengine.config import Config
from mmengine.hooks import ParamSchedulerHook
from mmengine.registry import init_default_scope

from tpr_mm.apis import prepare_data
from tpr_mm.registry import RUNNERS
from tpr_mm.testing.configs import TINY_SYNTHETIC, tiny_model_cfg

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def irra_factor(epoch: int) -> float:
    """anosorae/IRRA:solver/lr_scheduler.py, defaults of utils/options.py, 1-based epoch.

    IRRA steps its scheduler after each epoch, so epoch e trains with ``last_epoch = e - 1``.
    """
    last_epoch, warmup_epochs, total, warmup_factor = epoch - 1, 5, 60, 0.1
    if last_epoch < warmup_epochs:
        alpha = last_epoch / warmup_epochs
        return warmup_factor * (1 - alpha) + alpha
    ratio = (last_epoch - warmup_epochs) / (total - warmup_epochs)
    return 0.5 * (1 + math.cos(math.pi * ratio))


def cfine_factor(epoch: int) -> float:
    """shuanglinyan/CFine:solver/lr_scheduler.py WarmupMultiStepLR as train.py builds it:
    milestones (20, 25, 35), gamma 0.1, warmup_factor 0.01, warmup_iters 10, linear."""
    last_epoch = epoch - 1
    warmup = 1.0
    if last_epoch < 10:
        alpha = last_epoch / 10
        warmup = 0.01 * (1 - alpha) + alpha
    return warmup * 0.1 ** bisect_right((20, 25, 35), last_epoch)


def synthetic_factor(epoch: int, base: float = 1e-3, eta_min: float = 1e-5) -> float:
    """_base_/schedules/synthetic_scratch.py as intended: 0.1x at epoch 1, full lr at epochs 2
    and 3, then cosine towards eta_min over the remaining 28 epochs."""
    t = epoch - 1
    if t == 0:
        return 0.1
    if t <= 2:
        return 1.0
    return (eta_min + (base - eta_min) * 0.5 * (1 + math.cos(math.pi * (t - 2) / 28))) / base


def _runner(name: str, tmp_path):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', f'{name}.py'))
    init_default_scope('tpr_mm')
    cfg.work_dir = str(tmp_path)
    cfg.log_level = 'WARNING'
    model = copy.deepcopy(cfg.model)
    tiny = dict(pretrained=None, img_size=(32, 16), context_length=24)
    tiny['model_cfg'] = tiny_model_cfg((32, 16), 24)
    if model.get('backbone') is not None:
        model.backbone.update(tiny)
    else:  # CFine: CLIP-text variant, one CLIP for both towers
        model.image_backbone.update(tiny)
        model.neck.update(embed_dims=32, num_heads=2)
        model.head.losses.cmpc.update(in_channels=32)
    for loss in model.get('head', {}).get('losses', []):
        if 'in_channels' in loss:
            loss['in_channels'] = 32
    cfg.model = model
    # The scheduler build reads the train loop, which builds the train set: the tiny test copies.
    loader = cfg.train_dataloader
    loader.update(num_workers=0, persistent_workers=False)
    dataset = loader.dataset.get('dataset', loader.dataset)
    if dataset.type == 'SyntheticPEDES':
        dataset.update(data_root=str(tmp_path / 'synthetic'), **TINY_SYNTHETIC)
    else:
        dataset.data_root = os.path.join(ROOT, 'tests', 'data', os.path.basename(dataset.data_root))
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    runner = RUNNERS.build(cfg)
    prepare_data(cfg)  # the tiny synthetic set, written before the train loop builds it
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.param_schedulers = runner.build_param_scheduler(runner.param_schedulers)
    return cfg, runner


def _lr_per_epoch(runner, epochs: int):
    """(epochs, groups) lr the optimiser holds while each epoch trains."""
    hook = ParamSchedulerHook()
    groups = runner.optim_wrapper.optimizer.param_groups
    table = []
    for _ in range(epochs):
        table.append([g['lr'] for g in groups])
        runner.optim_wrapper.step()  # no gradients: keeps torch's optimizer-then-scheduler order
        hook.after_train_epoch(runner)
    return table


@pytest.mark.parametrize(
    'name, factor, epochs',
    [
        ('clip_sdm_cuhk', irra_factor, 60),
        ('cpcl_rstp', irra_factor, 60),
        ('cfine_icfg', cfine_factor, 50),
        ('clip_sdm_synthetic', synthetic_factor, 30),
    ],
)
def test_every_group_every_epoch_matches_reference(name, factor, epochs, tmp_path):
    cfg, runner = _runner(name, tmp_path)
    assert cfg.train_cfg.max_epochs == epochs
    groups = runner.optim_wrapper.optimizer.param_groups
    base = [g['initial_lr'] for g in groups]
    assert len(set(base)) >= (1 if 'synthetic' in name else 2)  # several lr groups scheduled
    table = _lr_per_epoch(runner, epochs)
    for epoch, lrs in enumerate(table, start=1):
        expect = [b * factor(epoch) for b in base]
        assert lrs == pytest.approx(expect, rel=1e-9, abs=1e-15), f'{name} epoch {epoch}'


def test_reference_factors_restated():
    # The numbers the issue quotes, from the naive re-statements above.
    assert [round(irra_factor(e), 10) for e in range(1, 7)] == [0.1, 0.28, 0.46, 0.64, 0.82, 1.0]
    assert irra_factor(60) == pytest.approx(0.5 * (1 + math.cos(math.pi * 54 / 55)))
    assert irra_factor(60) > 0  # IRRA never reaches 0 within 60 epochs
    assert cfine_factor(10) == pytest.approx(0.901) and cfine_factor(11) == 1.0
    assert cfine_factor(20) == 1.0 and cfine_factor(21) == pytest.approx(0.1)
    assert cfine_factor(36) == pytest.approx(1e-3) and cfine_factor(50) == pytest.approx(1e-3)


@pytest.mark.parametrize('name', ['cfine_bert_published_icfg', 'cfine_rstp'])
def test_cfine_every_parameter_group(name):
    """shuanglinyan/CFine:config.py network_config: Adam groups (other modules lr 1e-4 no decay;
    image tower lr 1e-5 decay 4e-5; text tower lr 1e-5 no decay), for every trainable parameter."""
    pytest.importorskip('transformers')
    from mmengine.optim import build_optim_wrapper
    from test_cfine_configs import _tiny_towers

    from tpr_mm.registry import MODELS

    cfg = Config.fromfile(os.path.join(ROOT, 'configs', f'{name}.py'))
    init_default_scope('tpr_mm')
    model = MODELS.build(_tiny_towers(cfg))
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    found = {}
    for group in wrapper.optimizer.param_groups:
        for p in group['params']:
            found[id(p)] = (group['lr'], group['weight_decay'])
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert len(found) == len(trainable)  # the unused CLIP parts are frozen and left out
    for pname, param in trainable:
        if pname.startswith('image_backbone.'):
            expect = (1e-5, 4e-5)
        elif pname.startswith('text_backbone.'):
            expect = (1e-5, 0.0)
        else:
            expect = (1e-4, 0.0)
        assert found[id(param)] == pytest.approx(expect, rel=1e-12), pname
