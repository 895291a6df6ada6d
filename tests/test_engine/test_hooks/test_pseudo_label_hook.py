# Copyright (c) tpr_mm contributors. All rights reserved.
"""PseudoLabelHook + CPCLHead end to end on the tiny synthetic set."""

import json
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import load_checkpoint

from tpr_mm.engine.hooks import PseudoLabelHook
from tpr_mm.engine.runner import mmengine_safe_globals
from tpr_mm.models.memories import cluster_means
from tpr_mm.registry import MODELS, RUNNERS
from tpr_mm.testing.configs import TINY_CLUSTER_CFG, shrink_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TINY_CLUSTER = dict(TINY_CLUSTER_CFG)  # 60 pairs, 6 per identity, a random 1-layer CLIP


def tiny_cpcl_cfg(work_dir, data_root, identity='drop', max_epochs=2, name='cpcl'):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'cpcl_synthetic.py'))
    cfg = shrink_config(cfg, str(work_dir), str(data_root), max_epochs=max_epochs)
    cfg.train_dataloader.dataset.identity = identity
    hook = cfg.custom_hooks[1]
    assert hook.type == 'PseudoLabelHook'
    hook.update(cluster_cfg=TINY_CLUSTER, progress=False, start_epoch=0)
    # validation is covered by the e2e tests; keep these runs short
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    cfg.experiment_name = f'{name}_{identity}_{os.path.basename(str(work_dir))}'
    return cfg


class Recorder(Hook):
    """Snapshot labels, memories, batches and losses (runs after PseudoLabelHook)."""

    priority = 'LOWEST'

    def __init__(self):
        self.labels, self.banks, self.rebuilt, self.end_banks = [], [], [], []
        self.losses, self.batches = [], []

    def before_train_epoch(self, runner):
        head = runner.model.head
        self.labels.append((head.img_pseudo_labels.clone(), head.txt_pseudo_labels.clone()))
        self.banks.append((head.img_memory.bank.clone(), head.txt_memory.bank.clone()))
        hook = next(h for h in runner.hooks if isinstance(h, PseudoLabelHook))
        img, txt = hook.encode_train(runner.model, runner)  # same weights as the hook saw
        yv, yt = self.labels[-1]
        self.rebuilt.append(
            (
                cluster_means(torch.from_numpy(img), yv, head.img_memory.num_prototypes),
                cluster_means(torch.from_numpy(txt), yt, head.txt_memory.num_prototypes),
            )
        )

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.losses.append({k: float(v.detach()) for k, v in outputs.items()})
        self.batches.append([s.sample_idx for s in data_batch['data_samples']])

    def after_train_epoch(self, runner):
        head = runner.model.head
        self.end_banks.append((head.img_memory.bank.clone(), head.txt_memory.bank.clone()))


def _train(cfg):
    runner = RUNNERS.build(cfg)
    rec = Recorder()
    runner.register_hook(rec)
    runner.train()
    return runner, rec


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp('cpcl')
    data_root = base / 'synthetic'
    out = {}
    for identity in ('drop', 'keep', 'scramble'):
        cfg = tiny_cpcl_cfg(base / f'work_{identity}', data_root, identity)
        out[identity] = (cfg,) + _train(cfg)
    return out


def test_hook_produces_labels_and_rebuilds_memories(runs):
    cfg, runner, rec = runs['drop']
    n = len(runner.train_dataloader.dataset)
    assert n == 10 * 3 * 2 and len(rec.labels) == 2
    for (yv, yt), (mv, mt), (rv, rt) in zip(rec.labels, rec.banks, rec.rebuilt):
        assert yv.shape == yt.shape == (n,)
        assert yv.min() >= -1 and yt.min() >= -1
        assert mv.shape == (int(yv.max()) + 1, 32) and mt.shape == (int(yt.max()) + 1, 32)
        assert mv.shape[0] > 0 and mt.shape[0] > 0
        torch.testing.assert_close(mv, rv, rtol=1e-5, atol=1e-5)  # normalised cluster means
        torch.testing.assert_close(mt, rt, rtol=1e-5, atol=1e-5)
    # the memories moved during the epoch (momentum updates after every iteration)
    assert not torch.allclose(rec.end_banks[0][0], rec.banks[0][0])
    assert not torch.allclose(rec.end_banks[0][1], rec.banks[0][1])
    assert {'loss_sdm', 'loss_proto_intra', 'loss_proto_cross'} <= set(rec.losses[0])
    assert len(rec.losses) == 2 * 8  # 2 epochs x ceil(60 / 8) iterations
    assert all(np.isfinite(v) for d in rec.losses for v in d.values())


def test_hook_logs_cluster_statistics_and_quality(runs):
    cfg, runner, rec = runs['drop']
    path = os.path.join(runner.log_dir, 'vis_data', 'pseudo_labels.json')
    with open(path) as f:
        records = [json.loads(line) for line in f]
    assert [r['epoch'] for r in records] == [1, 2]
    for r, (yv, yt) in zip(records, rec.labels):
        assert r['pseudo/img_clusters'] == len(set(yv[yv >= 0].tolist()))
        assert r['pseudo/txt_clusters'] == len(set(yt[yt >= 0].tolist()))
        assert r['pseudo/img_outlier_ratio_after'] == pytest.approx(float((yv < 0).float().mean()))
        assert r['pseudo/img_outlier_ratio_after'] <= r['pseudo/img_outlier_ratio_before']
        for key in ('ari', 'nmi', 'pair_precision', 'pair_recall'):
            assert -1.0 <= r[f'pseudo/img_{key}'] <= 1.0 and f'pseudo/txt_{key}' in r


def test_training_never_reads_identity_labels(runs):
    """Scrambled or removed identities give the same pseudo labels and losses."""
    _, ref_runner, ref = runs['drop']
    assert set(ref_runner.train_dataloader.dataset.pids.tolist()) == {-1}
    for identity in ('keep', 'scramble'):
        _, runner, rec = runs[identity]
        assert (runner.train_dataloader.dataset.pids >= 0).all()  # identities were there
        assert rec.batches == ref.batches
        for (a_v, a_t), (b_v, b_t) in zip(rec.labels, ref.labels):
            assert torch.equal(a_v, b_v) and torch.equal(a_t, b_t)
        assert rec.losses == ref.losses


def test_checkpoint_round_trip_and_resume(runs, tmp_path):
    cfg, runner, rec = runs['drop']
    ckpt = os.path.join(cfg.work_dir, 'epoch_2.pth')
    fresh = MODELS.build(cfg.model)
    with mmengine_safe_globals():
        load_checkpoint(fresh, ckpt, map_location='cpu', strict=True)
    head = runner.model.head
    for name in ('img_pseudo_labels', 'txt_pseudo_labels'):
        assert torch.equal(getattr(fresh.head, name), getattr(head, name))
    torch.testing.assert_close(fresh.head.img_memory.bank, head.img_memory.bank)
    torch.testing.assert_close(fresh.head.txt_memory.bank, head.txt_memory.bank)
    # resume for one more epoch: the hook re-clusters with the loaded weights
    cfg3 = cfg.copy()
    cfg3.train_cfg.max_epochs = 3
    cfg3.resume, cfg3.load_from = True, ckpt
    cfg3.experiment_name = 'cpcl_resume'
    runner3, rec3 = _train(cfg3)
    assert runner3.epoch == 3 and len(rec3.labels) == 1 and len(rec3.losses) == 8


def test_start_epoch_trains_with_every_pair_an_outlier(tmp_path):
    cfg = tiny_cpcl_cfg(tmp_path / 'work', tmp_path / 'synthetic', max_epochs=1, name='warm')
    cfg.custom_hooks[1].start_epoch = 1
    _, rec = _train(cfg)
    yv, yt = rec.labels[0]
    assert (yv == -1).all() and (yt == -1).all()
    assert rec.banks[0][0].shape[0] == 0
    assert all(d['loss_proto_intra'] == 0.0 and d['loss_proto_cross'] == 0.0 for d in rec.losses)


def test_hook_requires_a_pseudo_label_head(tmp_path):
    cfg = tiny_cpcl_cfg(tmp_path / 'work', tmp_path / 'synthetic', max_epochs=1, name='nohead')
    cfg.model.head = {'type': 'GlobalMatchingHead', 'losses': [{'type': 'ITCLoss'}]}
    with pytest.raises(AttributeError, match='set_pseudo_labels'):
        RUNNERS.build(cfg).train()


@pytest.mark.parametrize('rule', ['paired', 'clpc'])
def test_oplm_rule_reaches_the_mining(rule):
    """`oplm_rule` on the hook selects the rule applied after clustering."""
    from tpr_mm.clustering import cluster_pseudo_labels
    from tpr_mm.clustering.oplm import outlier_pseudo_label_mining

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 8))
    img = torch.nn.functional.normalize(
        torch.tensor(np.repeat(centres, 10, 0) + 0.6 * rng.normal(size=(40, 8))).float(), dim=1
    )
    txt = torch.nn.functional.normalize(
        torch.tensor(np.repeat(centres, 10, 0) + 0.3 * rng.normal(size=(40, 8))).float(), dim=1
    )
    hook = PseudoLabelHook(cluster_cfg=TINY_CLUSTER, oplm_rule=rule, progress=False)
    yv, yt, stats = hook.compute_labels(img, txt)
    cv = cluster_pseudo_labels(img, **hook.cluster_cfg)
    ct = cluster_pseudo_labels(txt, **hook.cluster_cfg)
    ev, et, _ = outlier_pseudo_label_mining(cv, ct, img, txt, rule=rule)
    np.testing.assert_array_equal(yv, ev)
    np.testing.assert_array_equal(yt, et)
    assert stats['img_recovered'] > 0  # the case exercises the mining
    if rule == 'clpc':
        np.testing.assert_array_equal(yt, ct)
        assert stats['txt_recovered'] == 0


def test_oplm_rule_errors():
    with pytest.raises(ValueError, match='oplm_rule must be one of'):
        PseudoLabelHook(oplm_rule='CLPC')
    with pytest.raises(ValueError, match='no gate'):
        PseudoLabelHook(oplm_rule='clpc', oplm_gate=0.5)


def test_mid_epoch_resume_without_stored_labels_is_an_error():
    """The labels kept on a mid-epoch resume must cover every training pair."""
    import logging
    from types import SimpleNamespace

    runner = SimpleNamespace(epoch=1, logger=logging.getLogger('test_pseudo_label_hook'))
    hook = PseudoLabelHook(progress=False)
    empty = SimpleNamespace(img_pseudo_labels=torch.zeros(0, dtype=torch.long))
    with pytest.raises(RuntimeError, match='holds 0 pseudo labels for 60 pairs'):
        hook._keep_loaded_labels(runner, empty, 60)
    with pytest.raises(RuntimeError, match='holds none pseudo labels'):
        hook._keep_loaded_labels(runner, SimpleNamespace(), 60)
    full = SimpleNamespace(img_pseudo_labels=torch.full((60,), -1, dtype=torch.long))
    hook._keep_loaded_labels(runner, full, 60)  # accepted: labels for every pair
