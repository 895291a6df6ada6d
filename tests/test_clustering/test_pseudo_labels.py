# Copyright (c) tpr_mm contributors. All rights reserved.
"""Sparse pseudo-label clustering against the dense oracle in dense_reference.py."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from tpr_mm.clustering import (
    cluster_pseudo_labels,
    dbscan_precomputed_sparse,
    knn_search,
    neighbour_sizes,
    sparse_jaccard_distance,
)
from tpr_mm.clustering import knn as knn_module

from .dense_reference import (
    adjusted_rand_index,
    dense_cluster_pseudo_labels,
    dense_dbscan,
    dense_jaccard_distance,
    dense_neighbour_lists,
    dense_similarity,
)


def clustered(n: int, dim: int = 32, noise: float = 0.5, seed: int = 0) -> np.ndarray:
    """Gaussian blobs of ~6 samples around random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(1, n // 6), dim))
    return (
        centres[rng.integers(0, len(centres), n)] + noise * rng.standard_normal((n, dim))
    ).astype(np.float32)


def with_duplicates(n: int, seed: int = 0, group: int = 70) -> np.ndarray:
    """Clustered data where every second sample repeats the previous one (two
    captions of one image), plus one group of ``group`` identical samples."""
    x = clustered(n, seed=seed)
    x[1::2] = x[0:-1:2]
    x[-group:] = x[-group - 1]
    return x


def dense_of(dist: sp.csr_matrix):
    """Dense copy of a sparse distance matrix plus the mask of stored entries."""
    n = dist.shape[0]
    rows = np.repeat(np.arange(n), np.diff(dist.indptr))
    stored = np.zeros((n, n), dtype=bool)
    stored[rows, dist.indices] = True
    full = np.ones((n, n))
    full[rows, dist.indices] = dist.data
    return full, stored


def border_conflicts(dist: np.ndarray, labels: np.ndarray, eps: float, min_samples: int) -> int:
    """Non-core points within eps of cores of two different clusters."""
    near = dist <= eps
    np.fill_diagonal(near, True)
    core = near.sum(1) >= min_samples
    return sum(len(set(labels[near[b] & core])) > 1 for b in np.flatnonzero(~core))


PROBLEMS = [(37, 0.5, 1), (300, 0.9, 2), (1501, 0.8, 3)]
_DENSE_CACHE = {}


def jaccard_pair(n, noise, seed):
    """(features, dense oracle distance, sparse distance), computed once per problem."""
    if (n, noise, seed) not in _DENSE_CACHE:
        x = clustered(n, noise=noise, seed=seed)
        _DENSE_CACHE[(n, noise, seed)] = (
            x,
            dense_jaccard_distance(x, 30, 6),
            sparse_jaccard_distance(x, k1=30, k2=6),
        )
    return _DENSE_CACHE[(n, noise, seed)]


@pytest.mark.parametrize('n,noise,seed', PROBLEMS)
def test_knn_matches_dense_order(n, noise, seed):
    x = clustered(n, noise=noise, seed=seed)
    sims, idx = knn_search(x, 30)
    ref_idx = dense_neighbour_lists(dense_similarity(x), min(30, n))
    np.testing.assert_array_equal(idx, ref_idx)
    assert (idx[:, 0] == np.arange(n)).all()
    np.testing.assert_array_equal(sims, np.take_along_axis(dense_similarity(x), idx, 1))


@pytest.mark.parametrize('n,noise,seed', PROBLEMS)
def test_jaccard_matches_dense(n, noise, seed):
    x, ref, dist = jaccard_pair(n, noise, seed)
    assert isinstance(dist, sp.csr_matrix) and dist.has_sorted_indices
    full, stored = dense_of(dist)
    np.testing.assert_allclose(full[stored], ref[stored], rtol=0, atol=1e-6)
    # Everything not stored has no overlapping support: distance exactly 1.
    assert (ref[~stored] == 1.0).all()
    assert (full[stored] < 1.0).all() and stored.diagonal().all()
    if n > 1000:
        assert (~stored).sum() > 1000  # the "not stored means 1" check is not vacuous
    # The eps-truncated matrix that clustering uses is the same, cut at eps.
    cut = sparse_jaccard_distance(x, k1=30, k2=6, max_distance=0.6)
    cut_full, cut_stored = dense_of(cut)
    np.testing.assert_array_equal(cut_stored, stored & (full <= 0.6))
    np.testing.assert_array_equal(cut_full[cut_stored], full[cut_stored])


@pytest.mark.parametrize('n,noise,seed', PROBLEMS)
def test_labels_match_dense(n, noise, seed):
    x, ref_dist, full = jaccard_pair(n, noise, seed)
    labels = cluster_pseudo_labels(x, k1=30, k2=6, eps=0.6, min_samples=4)
    ref = dense_dbscan(ref_dist, 0.6, 4)
    assert labels.dtype == np.int64 and labels.shape == (n,)
    np.testing.assert_array_equal(labels, ref)
    assert adjusted_rand_index(labels, ref) == 1.0
    if n > 100:
        assert 0 < labels.max() and (labels == -1).any()
    # DBSCAN alone, other radii / sizes, border points claimed by two clusters included.
    conflicts = 0
    for eps, min_samples in [(0.6, 4), (0.5, 3), (0.7, 6), (0.3, 2), (0.95, 1)]:
        ref = dense_dbscan(ref_dist, eps, min_samples)
        np.testing.assert_array_equal(dbscan_precomputed_sparse(full, eps, min_samples), ref)
        conflicts += border_conflicts(ref_dist, ref, eps, min_samples)
    if n > 1000:
        assert conflicts > 0, 'test data no longer exercises the border rule'


def test_dbscan_handmade_graph():
    # min_samples=4: the cliques {0, 1, 2, 11} and {4, 5, 6, 12} are the cores.
    # 3 touches 2 and 4, 13 touches 4 and 11: both go to cluster 0 (found first in
    # scikit-learn's index-order scan), 7 hangs on 5, 8 is too far, 9-10 are an
    # exact-zero pair without a core.
    n = 14
    edges = {
        (8, 6): 0.9,
        (9, 10): 0.0,
        (2, 3): 0.3,
        (3, 4): 0.3,
        (13, 4): 0.2,
        (11, 13): 0.2,
        (5, 7): 0.25,
    }
    for clique in ([0, 1, 2, 11], [4, 5, 6, 12]):
        edges.update({(a, b): 0.1 * (a % 3) for a in clique for b in clique if a < b})
    rows, cols, vals = [], [], []
    for (a, b), d in edges.items():
        rows += [a, b]
        cols += [b, a]
        vals += [d, d]
    dist = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    assert dist.nnz == 2 * len(edges)  # explicit zeros kept
    labels = dbscan_precomputed_sparse(dist, eps=0.5, min_samples=4)
    np.testing.assert_array_equal(labels, [0, 0, 0, 0, 1, 1, 1, 1, -1, -1, -1, 0, 1, 0])
    dense = np.ones((n, n))
    dense[rows, cols] = vals
    np.testing.assert_array_equal(labels, dense_dbscan(dense, 0.5, 4))
    # Stored diagonal entries change nothing; the diagonal is always implicit.
    # (sparse "+" would drop the explicit zeros, so build it from entries)
    diag = np.arange(n).tolist()
    with_diag = sp.csr_matrix((vals + [0.7] * n, (rows + diag, cols + diag)), shape=(n, n))
    np.testing.assert_array_equal(dbscan_precomputed_sparse(with_diag, 0.5, 4), labels)
    assert (dbscan_precomputed_sparse(dist, 0.5, 1) >= 0).all()
    assert (dbscan_precomputed_sparse(dist, 0.05, 5) == -1).all()


def test_duplicates_and_exact_zero_distances(monkeypatch):
    x = with_duplicates(301, seed=4)
    # The tie group (70) is larger than the candidate lists (k1 + 32 = 62 from
    # faiss): those rows must take the exact fallback.
    fallback_rows = []
    exact_rows = knn_module._exact_rows

    def spy(x_, rows, k):
        fallback_rows.extend(rows.tolist())
        return exact_rows(x_, rows, k)

    monkeypatch.setattr(knn_module, '_exact_rows', spy)
    dist = sparse_jaccard_distance(x)
    full, stored = dense_of(dist)
    ref = dense_jaccard_distance(x)
    np.testing.assert_allclose(full[stored], ref[stored], rtol=0, atol=1e-6)
    assert (ref[~stored] == 1.0).all()
    # Exact duplicates get exactly zero distance, and it is stored.
    zero = stored & (full == 0.0)
    np.fill_diagonal(zero, False)
    assert zero.sum() > 100
    np.testing.assert_array_equal(cluster_pseudo_labels(x), dense_cluster_pseudo_labels(x))
    # A tie group larger than k1 (exercises the exact fallback of knn_search):
    # self first, then the other members by index.
    _, idx = knn_search(x, 30)
    group = np.flatnonzero((x == x[-1]).all(axis=1))
    assert len(group) > 62
    assert set(group.tolist()) <= set(fallback_rows) and len(fallback_rows) < 301
    for i in group[[0, 20, -1]]:
        assert idx[i, 0] == i
        np.testing.assert_array_equal(idx[i, 1:], group[group != i][:29])


def test_fewer_samples_than_k1():
    assert neighbour_sizes(5, 30, 6) == (5, 3, 5)  # round(2.5) = 2, half to even
    assert neighbour_sizes(68126, 30, 6) == (30, 16, 6)
    x = clustered(5, noise=0.1, seed=5)
    sims, idx = knn_search(x, 30)
    assert idx.shape == (5, 5) and sims.shape == (5, 5)
    np.testing.assert_array_equal(cluster_pseudo_labels(x), dense_cluster_pseudo_labels(x))
    assert cluster_pseudo_labels(x[:1], min_samples=1).tolist() == [0]
    assert cluster_pseudo_labels(x[:1]).tolist() == [-1]


def test_all_outliers():
    x = np.random.default_rng(6).standard_normal((203, 64))  # no structure
    labels = cluster_pseudo_labels(x, eps=0.1)
    assert (labels == -1).all()
    np.testing.assert_array_equal(labels, dense_cluster_pseudo_labels(x, eps=0.1))


def test_torch_input_determinism_and_permutation():
    x = clustered(257, noise=0.7, seed=7)
    labels = cluster_pseudo_labels(x)
    np.testing.assert_array_equal(labels, cluster_pseudo_labels(x))
    np.testing.assert_array_equal(labels, cluster_pseudo_labels(torch.from_numpy(x)))
    grad = torch.from_numpy(x).double().requires_grad_()
    np.testing.assert_array_equal(labels, cluster_pseudo_labels(grad))
    # Scale does not matter (features are normalised first).
    np.testing.assert_array_equal(labels, cluster_pseudo_labels(3.5 * x.astype(np.float64)))
    # Same partition under a permutation (no ties in this data).
    perm = np.random.default_rng(8).permutation(len(x))
    assert adjusted_rand_index(cluster_pseudo_labels(x[perm]), labels[perm]) == 1.0
    # Clusters are numbered 0..C-1 without gaps (order checked against the oracle).
    used = labels[labels >= 0]
    assert set(used.tolist()) == set(range(used.max() + 1))


@pytest.mark.parametrize(
    'features,kwargs,match',
    [
        (np.zeros((4, 3)), {}, 'row 0 has zero norm'),
        (np.array([[1.0, 0.0], [np.nan, 1.0]]), {}, 'row 1 is not finite'),
        (np.ones(5), {}, r'shape \(N, D\)'),
        (np.ones((3, 2)), {'k1': 0}, 'k1 and k2'),
        (np.eye(3), {'min_samples': 0}, 'min_samples'),
    ],
)
def test_bad_inputs(features, kwargs, match):
    with pytest.raises(ValueError, match=match):
        cluster_pseudo_labels(features, **kwargs)
