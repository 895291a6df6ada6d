# Copyright (c) tpr_mm contributors. All rights reserved.
"""The optimised kNN gives the previous implementation's lists and labels bit
for bit, whatever proposes the candidates."""

import numpy as np
import pytest

from tpr_mm.clustering import cluster_pseudo_labels
from tpr_mm.clustering import knn as knn_module
from tpr_mm.clustering.knn import certify, knn_normalized, normalize_features

from .dense_reference import dense_neighbour_lists, dense_similarity
from .distributions import DISTRIBUTIONS, make_distribution
from .previous_steps import previous_cluster_pseudo_labels, previous_knn


@pytest.mark.parametrize('name', DISTRIBUTIONS)
@pytest.mark.parametrize('n', [500, 4200])
def test_proposers_equal_previous_knn(name, n):
    x = normalize_features(make_distribution(name, n, 48, seed=n))
    ref_s, ref_i = previous_knn(x, 30)
    for proposer in ('faiss', 'bf16', 'auto'):
        sims, idx = knn_normalized(x, 30, proposer=proposer)
        np.testing.assert_array_equal(idx, ref_i, err_msg=proposer)
        np.testing.assert_array_equal(sims, ref_s, err_msg=proposer)


def test_auto_probe_equals_previous(monkeypatch):
    """'auto' times both proposers on a probe block, then keeps one."""
    monkeypatch.setattr(knn_module, '_PROBE_ROWS', 256)  # probe from N >= 16 * 256
    for name in DISTRIBUTIONS:
        x = normalize_features(make_distribution(name, 4200, 48, seed=5))
        ref_s, ref_i = previous_knn(x, 30)
        sims, idx = knn_normalized(x, 30, proposer='auto')
        np.testing.assert_array_equal(idx, ref_i, err_msg=name)
        np.testing.assert_array_equal(sims, ref_s, err_msg=name)


@pytest.mark.parametrize('name', DISTRIBUTIONS)
def test_labels_equal_previous_implementation(name):
    feats = make_distribution(name, 3000, 64, seed=7)
    np.testing.assert_array_equal(
        cluster_pseudo_labels(feats), previous_cluster_pseudo_labels(feats)
    )


def test_small_k_and_n():
    x = normalize_features(make_distribution('overlap', 40, 16, seed=1))
    for k in (1, 2, 5, 40, 60):
        sims, idx = knn_normalized(x, k, proposer='bf16')
        ref_s, ref_i = previous_knn(x, k) if k > 1 else (sims, np.arange(40)[:, None])
        np.testing.assert_array_equal(idx, ref_i)
        np.testing.assert_array_equal(sims, ref_s)
    # dense oracle order: self first, then by similarity and index
    np.testing.assert_array_equal(
        knn_normalized(x, 7)[1], dense_neighbour_lists(dense_similarity(x), 7)
    )


def test_violated_bound_is_caught(monkeypatch):
    """A proposer whose error exceeds its claimed bound must not change the
    result: the rows it touched are recomputed by the next stage."""
    x = normalize_features(make_distribution('dominant', 600, 32, seed=2))
    ref = previous_knn(x, 30)
    calls = []
    real = knn_module._run_stage

    def spy(x_, proposer, rows, k, m, tol, out_s, out_i):
        left = real(x_, proposer, rows, k, m, tol, out_s, out_i)
        calls.append((type(proposer).__name__, len(rows), len(left)))
        return left

    monkeypatch.setattr(knn_module, 'BF16_DOT_TOL', 1e-9)  # far below bfloat16 error
    monkeypatch.setattr(knn_module, '_run_stage', spy)
    sims, idx = knn_normalized(x, 30, proposer='bf16')
    np.testing.assert_array_equal(idx, ref[1])
    np.testing.assert_array_equal(sims, ref[0])
    assert calls[0] == ('Bfloat16Proposer', 600, 600)  # every row distrusted ...
    assert calls[1][0] == 'FaissIndex'  # ... and redone by faiss


def test_certify_rejects_short_lists():
    x = normalize_features(make_distribution('overlap', 50, 16, seed=3))
    r = np.arange(4)
    cand = np.tile(np.arange(10, 14), (4, 1))  # 4 candidates < k - 1
    approx = np.full((4, 4), 0.5, dtype=np.float32)
    assert not certify(x, r, cand, approx, 10, 1e-4)[2].any()


def test_bad_proposer():
    with pytest.raises(ValueError, match='proposer'):
        knn_normalized(np.eye(3), 2, proposer='gpu')
