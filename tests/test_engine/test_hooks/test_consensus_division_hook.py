# Copyright (c) tpr_mm contributors. All rights reserved.
"""ConsensusDivisionHook + RDEHead end to end on the tiny, half-corrupted synthetic set."""

import json
import logging
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook

from tpr_mm.clustering import division_quality
from tpr_mm.engine.hooks import ConsensusDivisionHook
from tpr_mm.registry import RUNNERS
from tpr_mm.testing.configs import shrink_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class Recorder(Hook):
    """Snapshot the installed division and the training losses (runs after the hook)."""

    priority = 'LOWEST'

    def __init__(self):
        self.weights, self.losses, self.batches = [], [], []

    def before_train_epoch(self, runner):
        self.weights.append(runner.model.head.clean_weights.clone())

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append({k: float(v.detach()) for k, v in outputs.items()})
        self.batches.append([s.sample_idx for s in data_batch['data_samples']])


def _run(work_dir, data_root, hide_truth=False):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'rde_synthetic_noise50.py'))
    cfg = shrink_config(cfg, str(work_dir), str(data_root), max_epochs=2)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    cfg.experiment_name = f'rde_{os.path.basename(str(work_dir))}'
    if hide_truth:  # the samples lose is_clean; nothing else changes
        pack = cfg.train_dataloader.dataset.pipeline[-1]
        pack['meta_keys'] = ('pid', 'image_id', 'caption_id', 'sample_idx', 'img_path', 'caption')
    runner = RUNNERS.build(cfg)
    rec = Recorder()
    runner.register_hook(rec)
    runner.train()
    return runner, rec


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp('rde')
    return {
        hide: _run(base / f'work_{hide}', base / 'synthetic', hide_truth=hide)
        for hide in (False, True)
    }


def test_division_is_installed_and_its_quality_logged(runs):
    runner, rec = runs[False]
    ds = runner.train_dataloader.dataset
    n = len(ds)
    truth = np.array([ds.get_data_info(i)['is_clean'] for i in range(n)])
    assert n == 60 and truth.mean() == pytest.approx(1 - int(0.5 * 60) / 60, abs=0.1)
    assert len(rec.weights) == 2
    for w in rec.weights:
        assert w.shape == (n,) and set(w.unique().tolist()) <= {0.0, 1.0}
    with open(os.path.join(runner.log_dir, 'vis_data', 'division.json')) as f:
        records = [json.loads(line) for line in f]
    assert [r['epoch'] for r in records] == [1, 2]
    for r, w in zip(records, rec.weights):
        q = division_quality(w.numpy(), truth)
        assert r['division/precision'] == pytest.approx(q['precision'])
        assert r['division/recall'] == pytest.approx(q['recall'])
        assert r['division/clean_ratio'] == pytest.approx(float(w.mean()))
        assert r['division/true_noisy_ratio'] == pytest.approx(1 - truth.mean())
        for key in ('bge_precision', 'bge_recall', 'tse_precision', 'tse_recall', 'agreement'):
            assert 0.0 <= r[f'division/{key}'] <= 1.0
    assert len(rec.losses) == 2 * 8 and all(np.isfinite(list(d.values())).all() for d in rec.losses)
    assert set(rec.losses[0]) == {'loss', 'loss_bge', 'loss_tse'}


def test_truth_never_reaches_training(runs):
    """Without is_clean in the samples the division and the losses are the same."""
    (_, seen), (runner, hidden) = runs[False], runs[True]
    for a, b in zip(seen.weights, hidden.weights):
        assert torch.equal(a, b)
    assert seen.batches == hidden.batches
    for a, b in zip(seen.losses, hidden.losses):
        assert a == pytest.approx(b, rel=1e-5)
    with open(os.path.join(runner.log_dir, 'vis_data', 'division.json')) as f:
        assert 'division/precision' not in json.loads(f.readline())


def test_divide_separates_bimodal_losses_reproducibly():
    rng = np.random.default_rng(0)
    truth = rng.random(400) < 0.5
    losses = {
        name: np.where(truth, rng.normal(0.5, 0.1, 400), rng.normal(2.0, 0.3, 400))
        for name in ('bge', 'tse')
    }
    hook = ConsensusDivisionHook(gmm_cfg=dict(max_iter=100, tol=1e-4, reg_covar=1e-6))
    weights, stats = hook.divide(losses, epoch=3, seed=0, is_clean=truth)
    assert stats['precision'] > 0.99 and stats['recall'] > 0.99
    again, _ = hook.divide(losses, epoch=3, seed=0, is_clean=truth)
    assert np.array_equal(weights, again)
    noisy_tse = dict(losses, tse=rng.random(400))  # disagreements -> coin flips per epoch
    w3, _ = hook.divide(noisy_tse, epoch=3, seed=0)
    w4, _ = hook.divide(noisy_tse, epoch=4, seed=0)
    assert not np.array_equal(w3, w4)
    with pytest.raises(ValueError, match='unknown gmm_cfg'):
        ConsensusDivisionHook(gmm_cfg=dict(n_components=3))
    with pytest.raises(FloatingPointError, match='non-finite'):
        hook.divide(dict(losses, bge=np.full(400, np.nan)), epoch=0, seed=0)


def test_train_in_eval_mode_keeps_batchnorm_statistics():
    """RDE's published training ran in eval mode: the TSE BatchNorm statistics never move."""
    for keep_eval in (True, False):
        bn = torch.nn.BatchNorm1d(3)
        runner = SimpleNamespace(model=bn.train())
        ConsensusDivisionHook(train_in_eval_mode=keep_eval).before_train_iter(runner, 0)
        assert bn.training is not keep_eval
        bn(torch.randn(8, 3) + 5.0)
        assert torch.equal(bn.running_mean, torch.zeros(3)) is keep_eval


class _Seeder:
    def __init__(self):
        self.epochs = []

    def set_epoch(self, epoch):
        self.epochs.append(epoch)

    def __call__(self, worker_id):
        pass


def test_the_loss_pass_has_its_own_order_each_epoch():
    """RDE iterates a shuffling DataLoader twice per epoch: two independent orders."""
    from mmengine.dataset import DefaultSampler

    from tpr_mm.engine.hooks.loss_pass import PASS_EPOCH_OFFSET, division_pass_epoch

    data = list(range(64))
    seeder = _Seeder()
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=8,
        sampler=DefaultSampler(data, shuffle=True, seed=0),
        worker_init_fn=seeder,
    )

    def order():
        return torch.cat(list(loader)).tolist()

    passes, trains = [], []
    for epoch in range(3):
        loader.sampler.set_epoch(epoch)  # what MMEngine's DistSamplerSeedHook does
        with division_pass_epoch(loader, epoch):
            passes.append(order())
        trains.append(order())
    assert seeder.epochs == [v for e in range(3) for v in (PASS_EPOCH_OFFSET + e, e)]
    for epoch in range(3):
        assert passes[epoch] != trains[epoch] and sorted(passes[epoch]) == data
        # training draws exactly what it would without the pass (naive restatement)
        reference = DefaultSampler(data, shuffle=True, seed=0)
        reference.set_epoch(epoch)
        assert trains[epoch] == list(reference)
    assert len({tuple(p) for p in passes}) == 3


class _Head(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.register_buffer('clean_weights', torch.ones(n))

    def set_division(self, weights):  # never reached on a mid-epoch resume
        raise AssertionError('the division was computed again')


def _resumed_runner(kept: int, n: int = 6):
    model = SimpleNamespace(head=_Head(kept), per_sample_losses=None)
    loader = SimpleNamespace(dataset=list(range(n)))
    return SimpleNamespace(
        model=model,
        train_dataloader=loader,
        train_loop=SimpleNamespace(resumed_mid_epoch=True),
        epoch=1,
        logger=logging.getLogger('test_division_resume'),
    )


def test_mid_epoch_resume_keeps_the_loaded_division(caplog):
    """No loss pass and no new division; a checkpoint without one is refused by name."""
    hook = ConsensusDivisionHook()
    with caplog.at_level('INFO', logger='test_division_resume'):
        hook.before_train_epoch(_resumed_runner(kept=6))
    assert 'resumed mid-epoch 2, keeping the division' in caplog.text
    with pytest.raises(RuntimeError, match='holds 0 division weights for 6 pairs'):
        hook.before_train_epoch(_resumed_runner(kept=0))
