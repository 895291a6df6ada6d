# Copyright (c) tpr_mm contributors. All rights reserved.
"""Block-wise Jaccard + streaming DBSCAN: exact against the dense oracle on
adversarial distributions, and every kept intermediate bounded."""

import numpy as np
import pytest
import scipy.sparse as sp

from tpr_mm.clustering import cluster_pseudo_labels, dbscan_precomputed_sparse
from tpr_mm.clustering.jaccard import query_expanded_weights
from tpr_mm.clustering.knn import normalize_features
from tpr_mm.clustering.overlap import overlap_blocks
from tpr_mm.clustering.stream_dbscan import StreamingDBSCAN, dbscan_pair_blocks

from .dense_reference import adjusted_rand_index, dense_dbscan, dense_jaccard_distance
from .distributions import DISTRIBUTIONS, make_distribution

_CACHE = {}


def problem(name, n=240, dim=32):
    if name not in _CACHE:
        x = make_distribution(name, n, dim, seed=3)
        _CACHE[name] = (x, dense_jaccard_distance(x, 30, 6))
    return _CACHE[name]


@pytest.mark.parametrize('name', DISTRIBUTIONS)
def test_labels_match_dense_oracle(name):
    x, ref_dist = problem(name)
    labels = cluster_pseudo_labels(x, k1=30, k2=6, eps=0.6, min_samples=4)
    ref = dense_dbscan(ref_dist, 0.6, 4)
    np.testing.assert_array_equal(labels, ref)
    assert adjusted_rand_index(labels, ref) == 1.0
    assert labels.max() >= 1  # the data has clusters, not one blob or all outliers


@pytest.mark.parametrize('name', DISTRIBUTIONS)
@pytest.mark.parametrize('block,workers', [(1, 1), (97, 1), (1 << 22, 1), (97, 2), (1, 3)])
def test_blocks_give_every_pair_once(name, block, workers):
    """Any block size (1 forces the dense one-row path on every row) and any
    number of threads gives the dense oracle's pairs within the radius, each
    once, in ascending blocks."""
    x, ref_dist = problem(name)
    v = query_expanded_weights(normalize_features(x), 30, 6)
    got, prev = {}, 0
    for i1, rows, cols, dist in overlap_blocks(v, 0.6, block=block, workers=workers):
        assert i1 > prev and (rows >= prev).all() and (rows < i1).all() and (rows < cols).all()
        for r, c, d in zip(rows.tolist(), cols.tolist(), dist.tolist()):
            assert (r, c) not in got
            got[(r, c)] = d
        prev = i1
    assert prev == len(x)
    iu = np.triu_indices(len(x), 1)
    want = ref_dist[iu] <= 0.6
    assert set(got) == set(zip(iu[0][want].tolist(), iu[1][want].tolist()))
    np.testing.assert_allclose(
        [got[p] for p in sorted(got)], ref_dist[tuple(np.array(sorted(got)).T)], atol=1e-6
    )


@pytest.mark.parametrize('name', DISTRIBUTIONS)
def test_threaded_blocks_equal_serial(name):
    """Threads change neither the blocks nor a single bit of their contents."""
    x, _ = problem(name)
    v = query_expanded_weights(normalize_features(x), 30, 6)
    serial = list(overlap_blocks(v, 0.6, block=211, workers=1))
    threaded = list(overlap_blocks(v, 0.6, block=211, workers=4))
    assert len(serial) > 4 and len(serial) == len(threaded)
    for a, b in zip(serial, threaded):
        assert a[0] == b[0]
        for u, w in zip(a[1:], b[1:]):
            np.testing.assert_array_equal(u, w)


def random_graph(n, p, seed):
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.random((n, n)) < p, 1)
    # A dense near-clique makes hub rows with many pairs.
    upper[:12, :40] = np.triu(np.ones((12, 40), bool), 1)[:12, :40]
    return np.nonzero(upper)


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('min_samples', [1, 2, 4, 7])
def test_streaming_dbscan_matches_batch(seed, min_samples):
    n = 150
    rows, cols = random_graph(n, 0.02 + 0.01 * seed, seed)
    sym = sp.csr_matrix(
        (np.zeros(2 * len(rows)), (np.r_[rows, cols], np.r_[cols, rows])), shape=(n, n)
    )
    ref = dbscan_precomputed_sparse(sym, 0.5, min_samples)
    bounds = np.unique(np.r_[np.random.default_rng(seed).integers(1, n, 9), n])
    blocks, start = [], 0
    for i1 in bounds:
        sel = (rows >= start) & (rows < i1)
        blocks.append((int(i1), rows[sel], cols[sel]))
        start = i1
    np.testing.assert_array_equal(dbscan_pair_blocks(blocks, n, min_samples), ref)
    dense = np.ones((n, n))
    dense[rows, cols] = dense[cols, rows] = 0.0
    np.testing.assert_array_equal(ref, dense_dbscan(dense, 0.5, min_samples))


def test_kept_pairs_bounded_by_n_not_by_graph():
    """A near-identical group of 300 has ~45,000 pairs within eps; the
    streaming DBSCAN never holds more than O(N * min_samples) of them."""
    n, min_samples = 400, 4
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 16)).astype(np.float32)
    x[:300] = x[0] + 1e-4 * rng.standard_normal((300, 16)).astype(np.float32)
    v = query_expanded_weights(normalize_features(x), 30, 6)
    stream, n_pairs = StreamingDBSCAN(n, min_samples), 0
    for i1, rows, cols, _ in overlap_blocks(v, max_distance=0.6, block=4096):
        n_pairs += len(rows)
        stream.add(i1, rows, cols)
    labels = stream.labels()
    assert n_pairs > 40000
    # The union buffer is flushed at N pairs; waiting + border pairs < N * min_samples.
    assert stream.max_kept < n + 2 * n * min_samples + 4096
    np.testing.assert_array_equal(labels, dense_dbscan(dense_jaccard_distance(x), 0.6, 4))
    assert (labels[:300] == labels[0]).all() and labels[0] >= 0


def test_streaming_rejects_bad_blocks():
    stream = StreamingDBSCAN(5, 2)
    with pytest.raises(ValueError, match='row < col'):
        stream.add(3, np.array([1]), np.array([0]))
    stream.add(2, np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match='ascend'):
        stream.add(1, np.array([], int), np.array([], int))
    with pytest.raises(RuntimeError, match='never added'):
        stream.labels()
