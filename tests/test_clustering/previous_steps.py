# Copyright (c) tpr_mm contributors. All rights reserved.
"""The clustering steps as they were before the speed work (commit 8e4d803).

Kept verbatim in behaviour so that tests and ``benchmarks/bench_clustering.py``
can compare the optimised steps with them in one process: the faiss-only exact
kNN (every row searched in float32 by faiss, ``k + 8`` candidates re-scored)
and the pipeline of ``cluster_pseudo_labels`` built on it.
"""

from typing import Tuple

import faiss
import numpy as np
import scipy.sparse as sp

from tpr_mm.clustering.jaccard import _kreciprocal_weights, neighbour_sizes
from tpr_mm.clustering.knn import _exact_rows, normalize_features, pair_similarity
from tpr_mm.clustering.overlap import overlap_blocks
from tpr_mm.clustering.stream_dbscan import dbscan_pair_blocks

_ROW_CHUNK = 256
_CPU_DOT_TOL = 1e-4


def previous_knn(x: np.ndarray, k: int, margin: int = 8) -> Tuple[np.ndarray, np.ndarray]:
    """The former ``knn_normalized`` (CPU faiss path)."""
    n = x.shape[0]
    k = min(k, n)
    tol = max(_CPU_DOT_TOL, 2 * (x.shape[1] + 2) * 2.0**-24)
    m = min(n, k + margin)
    if m == n:
        return _exact_rows(x, np.arange(n), k)
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(np.ascontiguousarray(x, dtype=np.float32))
    approx, cand = index.search(np.ascontiguousarray(x, dtype=np.float32), m)
    cand = cand.astype(np.int64)
    rows = np.arange(n, dtype=np.int64)
    out_sims = np.empty((n, k), dtype=np.float32)
    out_idx = np.empty((n, k), dtype=np.int64)
    failed = []
    for s in range(0, n, _ROW_CHUNK):
        r = rows[s : s + _ROW_CHUNK]
        c = cand[s : s + _ROW_CHUNK]
        c = np.where((c == r[:, None]) | (c < 0), -1, c)
        sims = np.einsum('bd,bmd->bm', x[r], x[np.maximum(c, 0)]).astype(np.float32)
        sims[c < 0] = -np.inf
        c_full = np.concatenate([r[:, None], c], axis=1)
        s_full = np.concatenate([np.full((len(r), 1), np.inf, np.float32), sims], axis=1)
        order = np.lexsort((c_full, -s_full.astype(np.float64)), axis=1)[:, :k]
        top_s = np.take_along_axis(s_full, order, 1)
        top_i = np.take_along_axis(c_full, order, 1)
        bound = approx[s : s + _ROW_CHUNK, -1].astype(np.float64) + tol
        kth = top_s[:, -1].astype(np.float64) if k > 1 else np.full(len(r), np.inf)
        failed.append(r[~(kth > bound)])
        top_s[:, 0] = pair_similarity(x, r, r)
        out_sims[s : s + _ROW_CHUNK], out_idx[s : s + _ROW_CHUNK] = top_s, top_i
    failed = np.concatenate(failed)
    if failed.size:
        out_sims[failed], out_idx[failed] = _exact_rows(x, failed, k)
    return out_sims, out_idx


def previous_query_expanded_weights(x: np.ndarray, k1: int = 30, k2: int = 6) -> sp.csr_matrix:
    """The former ``query_expanded_weights`` (on :func:`previous_knn`)."""
    n = x.shape[0]
    k1, half, k2 = neighbour_sizes(n, k1, k2)
    sims, idx = previous_knn(x, k1)
    v = _kreciprocal_weights(x, sims, idx, half)
    if k2 > 1:
        q = sp.csr_matrix(
            (np.full(n * k2, 1.0 / k2), idx[:, :k2].ravel(), np.arange(0, n * k2 + 1, k2)),
            shape=(n, n),
        )
        v = q @ v
        v.sort_indices()
    return v


def previous_cluster_pseudo_labels(
    features, k1: int = 30, k2: int = 6, eps: float = 0.6, min_samples: int = 4
) -> np.ndarray:
    """The former ``cluster_pseudo_labels`` pipeline."""
    x = normalize_features(features)
    v = previous_query_expanded_weights(x, k1, k2)
    blocks = ((i1, rows, cols) for i1, rows, cols, _ in overlap_blocks(v, max_distance=eps))
    return dbscan_pair_blocks(blocks, x.shape[0], min_samples)
