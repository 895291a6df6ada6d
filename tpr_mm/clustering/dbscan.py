# Copyright (c) tpr_mm contributors. All rights reserved.
"""DBSCAN on a sparse precomputed distance graph.

Semantics are scikit-learn's ``DBSCAN(metric='precomputed')`` on a sparse
matrix, written as closed-form graph operations instead of a BFS:

* the neighbours of ``i`` are ``i`` itself plus the stored entries of row
  ``i`` with distance ``<= eps`` (pairs that are not stored are never
  neighbours, stored zeros are);
* ``i`` is a core point when it has at least ``min_samples`` neighbours;
* clusters are the connected components of core points linked by a core
  row's neighbour entry, numbered in the order of their smallest core index;
* a non-core point reached by the neighbour entry of a core point joins the
  lowest-numbered such cluster -- exactly what scikit-learn's scan in index
  order produces -- and every other point is an outlier (-1).
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


def dbscan_precomputed_sparse(dist: sp.spmatrix, eps: float, min_samples: int) -> np.ndarray:
    """Cluster a sparse precomputed distance matrix with DBSCAN.

    Args:
        dist (scipy.sparse.spmatrix): (N, N) distances; only stored entries
            count, explicit zeros included. The diagonal is implicit.
        eps (float): Neighbourhood radius (inclusive).
        min_samples (int): Neighbours (self included) needed by a core point.

    Returns:
        np.ndarray: (N,) int64 labels, -1 for outliers, clusters 0..C-1
        numbered by their smallest core index.
    """
    if not sp.issparse(dist):
        raise TypeError(f'dist must be a scipy sparse matrix, got {type(dist).__name__}')
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise ValueError(f'dist must be a square (N, N) sparse matrix, got shape {dist.shape}')
    if not eps >= 0:
        raise ValueError(f'eps must be >= 0, got {eps}')
    if min_samples < 1:
        raise ValueError(f'min_samples must be >= 1, got {min_samples}')
    n = dist.shape[0]
    coo = dist.tocoo()
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
    near = (coo.data <= eps) & (rows != cols)
    rows, cols = rows[near], cols[near]
    # Duplicate stored entries (possible in COO input) must count once.
    keys = np.unique(rows * n + cols)
    rows, cols = np.divmod(keys, n)
    is_core = np.bincount(rows, minlength=n) + 1 >= min_samples

    labels = np.full(n, -1, dtype=np.int64)
    core = np.flatnonzero(is_core)
    if core.size == 0:
        return labels
    cc = is_core[rows] & is_core[cols]
    graph = sp.csr_matrix((np.ones(int(cc.sum())), (rows[cc], cols[cc])), shape=(n, n))
    _, comp = connected_components(graph, directed=True, connection='weak')
    # Number clusters by their smallest core index.
    first_core = np.full(n, n, dtype=np.int64)
    np.minimum.at(first_core, comp[core], core)
    used = np.flatnonzero(first_core < n)
    rank = np.empty(n, dtype=np.int64)
    rank[used[np.argsort(first_core[used])]] = np.arange(len(used))
    labels[core] = rank[comp[core]]

    border = is_core[rows] & ~is_core[cols]
    if border.any():
        target = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        np.minimum.at(target, cols[border], labels[rows[border]])
        hit = target < np.iinfo(np.int64).max
        labels[hit] = target[hit]
    return labels
