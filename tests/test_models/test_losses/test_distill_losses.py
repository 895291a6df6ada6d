# Copyright (c) tpr_mm contributors. All rights reserved.
import math

import pytest
import torch

from tpr_mm.models.losses import (
    FeatureDistillLoss,
    RelationDistillLoss,
    feature_distill_loss,
    relation_distill_loss,
)
from tpr_mm.registry import MODELS


def _feats(seed, n=5, d=7):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g) * 3 for _ in range(4)]


def _naive_mse(s, t, normalize=False):
    total = 0.0
    for i in range(s.shape[0]):
        a, b = s[i].tolist(), t[i].tolist()
        if normalize:
            na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
            a, b = [x / na for x in a], [x / nb for x in b]
        total += sum((x - y) ** 2 for x, y in zip(a, b))
    return total / s.numel()


def _naive_relation(sv, st, tv, tt):
    def cos(a, b):
        return float(a @ b) / (float(a.norm()) * float(b.norm()))

    n, m = sv.shape[0], st.shape[0]
    total = sum((cos(sv[i], st[j]) - cos(tv[i], tt[j])) ** 2 for i in range(n) for j in range(m))
    return total / (n * m)


@pytest.mark.parametrize('normalize', [False, True])
def test_feature_distill_matches_naive(normalize):
    sv, st, tv, tt = _feats(0)
    loss = MODELS.build({'type': 'FeatureDistillLoss', 'normalize': normalize, 'loss_weight': 0.7})
    expected = 0.7 * (_naive_mse(sv, tv, normalize) + _naive_mse(st, tt, normalize))
    assert loss(sv, st, tv, tt).item() == pytest.approx(expected, rel=1e-5)
    assert feature_distill_loss(sv, sv.clone()).item() == 0.0


def test_relation_distill_matches_naive():
    sv, st, tv, tt = _feats(1)
    expected = _naive_relation(sv, st, tv, tt)
    assert relation_distill_loss(sv, st, tv, tt).item() == pytest.approx(expected, rel=1e-5)
    loss = RelationDistillLoss(loss_weight=2.0)
    assert loss(sv, st, tv, tt).item() == pytest.approx(2 * expected, rel=1e-5)
    assert loss.loss_name == 'loss_rel_kd'
    # Scale-invariant per row: only directions matter.
    assert relation_distill_loss(sv * 4, st, tv, tt * 0.5).item() == pytest.approx(
        expected, rel=1e-5
    )


def test_gradients_reach_student_only():
    sv, st, tv, tt = [f.requires_grad_() for f in _feats(2)]
    (FeatureDistillLoss()(sv, st, tv, tt) + RelationDistillLoss()(sv, st, tv, tt)).backward()
    assert sv.grad is not None and st.grad is not None
    assert tv.grad is None and tt.grad is None


def test_shape_mismatch_is_named():
    sv, st, tv, tt = _feats(3)
    with pytest.raises(ValueError, match='differ in shape'):
        feature_distill_loss(sv, tv[:4])
    with pytest.raises(ValueError, match='differ in shape'):
        relation_distill_loss(sv, st, tv[:4], tt)


def test_sum_dims_reduction_is_the_squared_l2_distance_averaged_over_the_batch():
    sv, st, tv, tt = _feats(4)

    def naive(s, t):  # mean over rows of sum over dims of (s - t)^2
        rows = [sum((a - b) ** 2 for a, b in zip(sr.tolist(), tr.tolist())) for sr, tr in zip(s, t)]
        return sum(rows) / len(rows)

    loss = MODELS.build({'type': 'FeatureDistillLoss', 'reduction': 'sum_dims'})
    assert loss(sv, st, tv, tt).item() == pytest.approx(naive(sv, tv) + naive(st, tt), rel=1e-5)
    with pytest.raises(ValueError, match="reduction must be one of \\('mean', 'sum_dims'\\)"):
        MODELS.build({'type': 'FeatureDistillLoss', 'reduction': 'sum'})
