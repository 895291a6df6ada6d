# Copyright (c) tpr_mm contributors. All rights reserved.
"""OPLM against a naive per-outlier loop."""

import numpy as np
import pytest
import torch

from tpr_mm.clustering import oplm
from tpr_mm.clustering.oplm import outlier_pseudo_label_mining


def _unit(x):
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _naive_mine(labels, paired, feats, gate):
    feats = _unit(feats.astype(np.float64))
    protos = {}
    for c in set(labels.tolist()) - {-1}:
        m = feats[labels == c].sum(0)
        protos[c] = m / np.linalg.norm(m)
    out = labels.copy()
    for i in range(len(labels)):
        if labels[i] != -1 or paired[i] == -1:
            continue
        best, best_sim = None, -np.inf
        for j in range(len(labels)):
            if j == i or paired[j] != paired[i] or labels[j] == -1:
                continue
            sim = float(feats[i] @ feats[j])
            if sim > best_sim + 1e-12:  # first j wins ties
                best, best_sim = j, sim
        if best is None:
            continue
        new = labels[best]
        if gate is not None and float(feats[i] @ protos[new]) < gate:
            continue
        out[i] = new
    return out


def _random_case(seed, n=41, d=6):
    rng = np.random.default_rng(seed)
    yv = rng.integers(-1, 5, size=n)
    yt = rng.integers(-1, 4, size=n)
    yt[:3] = 3  # a text cluster ...
    yv[:3] = -1  # ... whose images are all outliers: nothing to copy from
    fv = rng.normal(size=(n, d)).astype(np.float32)
    ft = rng.normal(size=(n, d)).astype(np.float32)
    return yv, yt, fv, ft


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('gate', [None, 0.3])
def test_oplm_matches_naive_loop(seed, gate):
    yv, yt, fv, ft = _random_case(seed)
    new_v, new_t, stats = outlier_pseudo_label_mining(yv, yt, fv, ft, gate_threshold=gate)
    np.testing.assert_array_equal(new_v, _naive_mine(yv, yt, fv, gate))
    np.testing.assert_array_equal(new_t, _naive_mine(yt, yv, ft, gate))
    assert stats['img_recovered'] == int(((yv < 0) & (new_v >= 0)).sum())
    assert stats['txt_recovered'] == int(((yt < 0) & (new_t >= 0)).sum())
    # clustered pairs never change, and double outliers stay outliers
    keep_v, keep_t = yv >= 0, yt >= 0
    np.testing.assert_array_equal(new_v[keep_v], yv[keep_v])
    np.testing.assert_array_equal(new_t[keep_t], yt[keep_t])
    both = (yv < 0) & (yt < 0)
    assert (new_v[both] == -1).all() and (new_t[both] == -1).all()


def test_gate_only_rejects():
    yv, yt, fv, ft = _random_case(7)
    open_v, open_t, _ = outlier_pseudo_label_mining(yv, yt, fv, ft)
    shut_v, shut_t, stats = outlier_pseudo_label_mining(yv, yt, fv, ft, gate_threshold=1.01)
    np.testing.assert_array_equal(shut_v, yv)
    np.testing.assert_array_equal(shut_t, yt)
    assert stats == {'img_recovered': 0, 'txt_recovered': 0}
    assert (open_v >= 0).sum() > (yv >= 0).sum()


def test_oplm_hand_example_and_torch_input():
    # pair 2: image outlier, caption in text cluster 0 with pairs 0 and 1
    yv = torch.tensor([4, 7, -1, 1])
    yt = torch.tensor([0, 0, 0, -1])
    fv = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.1, 1.0], [1.0, 1.0]])
    ft = torch.randn(4, 2)
    new_v, new_t, _ = outlier_pseudo_label_mining(yv, yt, fv, ft)
    assert new_v.tolist() == [4, 7, 7, 1]  # closest image in the caption's cluster is pair 1
    assert new_t.tolist() == [0, 0, 0, -1]  # image cluster 1 has no other clustered caption


def test_oplm_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match='agree in N'):
        outlier_pseudo_label_mining(np.zeros(3), np.zeros(4), np.ones((3, 2)), np.ones((3, 2)))


def _naive_clpc(image_labels, text_labels, image_bank):
    """LeviWeiZhi/CLPC:utils/cluster_utils.py pseudo_labels_mining, restated with plain loops."""
    image_labels = [int(v) for v in image_labels]
    text_labels = [int(v) for v in text_labels]
    for i in range(len(image_bank)):
        if image_labels[i] != -1 or text_labels[i] == -1:
            continue
        cluster = [
            j for j in range(len(text_labels)) if text_labels[j] == text_labels[i] and j != i
        ]
        if len(cluster) < 1:
            continue
        sims = [float(np.dot(image_bank[i], image_bank[j])) for j in cluster]
        ranked = [cluster[k] for k in sorted(range(len(cluster)), key=lambda k: -sims[k])]
        chosen = next((j for j in ranked if text_labels[j] != -1), -1)
        if chosen != -1:
            image_labels[i] = image_labels[chosen]  # in place: later outliers see it
    return np.array(image_labels)


@pytest.mark.parametrize('seed', [0, 1, 2, 3])
@pytest.mark.parametrize('block', [None, 7])
def test_clpc_rule_matches_reference_loop(seed, block, monkeypatch):
    if block is not None:  # many small similarity blocks instead of one
        monkeypatch.setattr(oplm, '_SIM_BLOCK', block)
    rng = np.random.default_rng(seed)
    n = 60
    yv = rng.integers(-1, 6, size=n)
    yv[rng.random(n) < 0.45] = -1  # many image outliers: chains of copied labels occur
    yt = rng.integers(-1, 4, size=n)
    yt[:2] = 9  # a two-member text cluster whose images are both outliers
    yv[:2] = -1
    fv = _unit(rng.normal(size=(n, 5)))
    ft = rng.normal(size=(n, 5))
    new_v, new_t, stats = outlier_pseudo_label_mining(yv, yt, fv, ft, rule='clpc')
    expect = _naive_clpc(yv, yt, fv.astype(np.float32))
    np.testing.assert_array_equal(new_v, expect)
    np.testing.assert_array_equal(new_t, yt)  # CLPC mines image labels only
    assert stats == {'img_recovered': int(((yv < 0) & (new_v >= 0)).sum()), 'txt_recovered': 0}
    assert (new_v[:2] == -1).all()


def test_clpc_rule_order_dependence_hand_example():
    # Pairs 0 and 1 are image outliers in text cluster 0 with pair 2 (image label 5). Pair 0's
    # nearest image is pair 1 (still -1 when pair 0 is visited): pair 0 stays an outlier under
    # CLPC; pair 1's nearest is pair 2: it gets 5. The 'paired' rule skips outlier candidates.
    yv = np.array([-1, -1, 5])
    yt = np.array([0, 0, 0])
    fv = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    ft = np.ones((3, 2))
    clpc, _, _ = outlier_pseudo_label_mining(yv, yt, fv, ft, rule='clpc')
    paired, _, _ = outlier_pseudo_label_mining(yv, yt, fv, ft)
    assert clpc.tolist() == [-1, 5, 5]
    assert paired.tolist() == [5, 5, 5]
    # The reverse visiting order shows the in-place copy: pair 1 is mined first, then pair 0
    # copies the label just written.
    rev, _, _ = outlier_pseudo_label_mining(yv[::-1], yt, fv[::-1], ft, rule='clpc')
    assert rev.tolist() == [5, 5, 5]


def test_rule_errors():
    yv, yt, fv, ft = _random_case(0)
    with pytest.raises(ValueError, match='rule must be one of'):
        outlier_pseudo_label_mining(yv, yt, fv, ft, rule='nope')
    with pytest.raises(ValueError, match='no reliability gate'):
        outlier_pseudo_label_mining(yv, yt, fv, ft, gate_threshold=0.5, rule='clpc')


@pytest.mark.parametrize('block', [1, 7])
def test_oplm_chunked_queries_same_result(monkeypatch, block):
    """Similarity blocks of a few entries (one giant cluster's queries split in
    many chunks) give the naive loop's labels."""
    from tpr_mm.clustering import oplm

    monkeypatch.setattr(oplm, '_SIM_BLOCK', block)
    rng = np.random.default_rng(5)
    n = 60
    yt = np.zeros(n, dtype=np.int64)  # one text cluster holding every pair
    yv = rng.integers(-1, 3, size=n)
    yv[:25] = -1
    fv = rng.normal(size=(n, 5)).astype(np.float32)
    ft = rng.normal(size=(n, 5)).astype(np.float32)
    new_v, _, stats = outlier_pseudo_label_mining(yv, yt, fv, ft)
    np.testing.assert_array_equal(new_v, _naive_mine(yv, yt, fv, None))
    assert stats['img_recovered'] >= 25
