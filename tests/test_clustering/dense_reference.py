# Copyright (c) tpr_mm contributors. All rights reserved.
"""Dense, obviously-correct oracle for ``tpr_mm.clustering``.

Plain loops over full N x N matrices, following the k-reciprocal re-ranking
definition step by step (cluster-contrast flavour) and scikit-learn's DBSCAN
scan. O(N^2) memory: for tests and small benchmark checks only. Shares no
code with the sparse implementation; the few conventions both must agree on
are spelled out here:

* similarity = float64 dot of float64-L2-normalised rows, rounded to float32;
* a neighbour list is the sample itself, then the others by decreasing
  similarity and increasing index;
* list lengths: k1' = min(k1, N), candidates round(k1'/2) + 1, expansion k2,
  both clipped to k1'.
"""

import numpy as np


def dense_similarity(features) -> np.ndarray:
    x = np.asarray(features, dtype=np.float64)
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return (x @ x.T).astype(np.float32)


def dense_neighbour_lists(sim: np.ndarray, k: int) -> np.ndarray:
    n = sim.shape[0]
    lists = []
    for i in range(n):
        order = np.lexsort((np.arange(n), -sim[i].astype(np.float64)))  # -sim, then index
        others = [int(j) for j in order if j != i]
        lists.append([i] + others[: k - 1])
    return np.array(lists, dtype=np.int64)


def _reciprocal_sets(ranks: np.ndarray, k: int) -> list:
    """R(i, k) = {j in first k of i's list : i in first k of j's list}."""
    lists = [set(row[:k].tolist()) for row in ranks]
    return [{j for j in lists[i] if i in lists[j]} for i in range(len(ranks))]


def dense_jaccard_distance(features, k1: int = 30, k2: int = 6) -> np.ndarray:
    """Full (N, N) float64 Jaccard distance."""
    sim = dense_similarity(features)
    n = sim.shape[0]
    k1 = min(k1, n)
    half = min(int(np.around(k1 / 2)) + 1, k1)
    k2 = min(k2, k1)
    ranks = dense_neighbour_lists(sim, k1)
    dist = 2.0 - 2.0 * sim.astype(np.float64)

    r_k1 = _reciprocal_sets(ranks, k1)
    r_half = _reciprocal_sets(ranks, half)
    v = np.zeros((n, n))
    for i in range(n):
        expanded = set(r_k1[i])
        for c in r_k1[i]:
            if 3 * len(r_half[c] & r_k1[i]) > 2 * len(r_half[c]):  # "> 2/3 |R(c, k1/2)|"
                expanded |= r_half[c]
        cols = sorted(expanded)
        w = np.exp(-dist[i, cols])
        v[i, cols] = w / w.sum()

    v_qe = np.zeros((n, n))
    for i in range(n):
        v_qe[i] = v[ranks[i, :k2]].mean(axis=0)

    jac = np.ones((n, n))
    for i in range(n):
        nz = np.flatnonzero(v_qe[i])
        s = np.minimum(v_qe[i, nz][None, :], v_qe[:, nz]).sum(axis=1)
        jac[i] = 1.0 - s / (2.0 - s)
    return np.maximum(jac, 0.0)


def dense_dbscan(dist: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """scikit-learn's DBSCAN scan (index order, stack) on a dense matrix."""
    n = dist.shape[0]
    neighbours = [set(np.flatnonzero(dist[i] <= eps).tolist()) | {i} for i in range(n)]
    is_core = [len(nb) >= min_samples for nb in neighbours]
    labels = [-1] * n
    label = 0
    for seed in range(n):
        if labels[seed] != -1 or not is_core[seed]:
            continue
        stack = [seed]
        while stack:
            i = stack.pop()
            if labels[i] != -1:
                continue
            labels[i] = label
            if is_core[i]:
                stack.extend(j for j in sorted(neighbours[i]) if labels[j] == -1)
        label += 1
    return np.array(labels, dtype=np.int64)


def dense_cluster_pseudo_labels(
    features, k1: int = 30, k2: int = 6, eps: float = 0.6, min_samples: int = 4
) -> np.ndarray:
    return dense_dbscan(dense_jaccard_distance(features, k1, k2), eps, min_samples)


def adjusted_rand_index(a: np.ndarray, b: np.ndarray) -> float:
    """ARI of two labelings; every -1 is treated as its own singleton."""

    def singletons(y):
        y = np.asarray(y).copy()
        out = y < 0
        y[out] = y.max(initial=0) + 1 + np.arange(out.sum())
        return y

    a, b = singletons(a), singletons(b)
    _, a = np.unique(a, return_inverse=True)
    _, b = np.unique(b, return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)

    def pairs(v):
        return float((v * (v - 1) / 2).sum())

    n_pairs = len(a) * (len(a) - 1) / 2
    index, sum_a, sum_b = pairs(table), pairs(table.sum(1)), pairs(table.sum(0))
    expected = sum_a * sum_b / n_pairs if n_pairs else 0.0
    max_index = (sum_a + sum_b) / 2
    if max_index == expected:
        return 1.0
    return (index - expected) / (max_index - expected)
