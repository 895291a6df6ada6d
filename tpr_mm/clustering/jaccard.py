# Copyright (c) tpr_mm contributors. All rights reserved.
"""Sparse k-reciprocal Jaccard distance (Zhong et al., CVPR 2017).

Same definition as the dense re-ranking code used for pseudo labels by
cluster-contrast (``k1`` forward neighbours including self, candidate lists of
``round(k1 / 2) + 1``, query expansion over ``k2`` neighbours), but every
matrix stays sparse: ``V`` has ~k1 entries per row, the query-expanded ``V_qe``
~k2 times that, and the Jaccard similarity is accumulated only over pairs whose
``V_qe`` supports overlap, through an inverted (column) index.

Source: alibaba/cluster-contrast-reid:clustercontrast/utils/faiss_rerank.py
(``compute_jaccard_distance``).
"""

from typing import Optional, Tuple

import numpy as np
import scipy.sparse as sp

from .knn import ArrayLike, knn_normalized, normalize_features, pair_similarity
from .overlap import overlap_blocks, to_distance

# Triples (i, c, e) handled per chunk of the expanded-set search.
_BLOCK_CONTRIB = 1 << 22
# Rows per dense scatter table in _lookup (table: rows x N int64).
_LOOKUP_ROWS = 32


def neighbour_sizes(n: int, k1: int, k2: int) -> Tuple[int, int, int]:
    """Effective list lengths ``(k1', half, k2')`` for ``n`` samples.

    ``k1`` is clipped to ``n``; the candidate lists hold ``round(k1'/2) + 1``
    entries (numpy rounding, half to even) and the query expansion ``k2``
    entries, both clipped to ``k1'``.
    """
    if k1 < 1 or k2 < 1:
        raise ValueError(f'k1 and k2 must be >= 1, got k1={k1}, k2={k2}')
    k1 = min(k1, n)
    return k1, min(int(np.around(k1 / 2)) + 1, k1), min(k2, k1)


def _lookup(
    rows: np.ndarray, cols: np.ndarray, q_rows: np.ndarray, q_cols: np.ndarray, n: int
) -> np.ndarray:
    """Position of each query pair among the pairs ``(rows, cols)``, -1 if absent.

    ``rows`` and ``q_rows`` must be sorted; a dense scatter table over a block
    of rows replaces a binary search per query.
    """
    out = np.full(len(q_rows), -1, dtype=np.int64)
    if len(q_rows) == 0:
        return out
    table = np.zeros(_LOOKUP_ROWS * n, dtype=np.int64)
    # Only the row blocks the queries touch.
    lo, hi = q_rows[0] // _LOOKUP_ROWS, q_rows[-1] // _LOOKUP_ROWS + 1
    starts = np.arange(lo, hi + 1, dtype=np.int64) * _LOOKUP_ROWS
    kb, qb = np.searchsorted(rows, starts), np.searchsorted(q_rows, starts)
    for b, i0 in enumerate(starts[:-1]):
        keys, queries = slice(kb[b], kb[b + 1]), slice(qb[b], qb[b + 1])
        flat = (rows[keys] - i0) * n + cols[keys]
        table[flat] = np.arange(kb[b], kb[b + 1]) + 1
        out[queries] = table[(q_rows[queries] - i0) * n + q_cols[queries]] - 1
        table[flat] = 0
    return out


def _csr(rows: np.ndarray, cols: np.ndarray, data: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR from entries already sorted by (row, col), without touching zeros."""
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    return sp.csr_matrix((data, cols, indptr), shape=(n, n))


def _reciprocal(idx: np.ndarray) -> sp.csr_matrix:
    """0/1 CSR (sorted columns) of k-reciprocal pairs: j in idx[i] and i in idx[j]."""
    n, k = idx.shape
    fwd = sp.csr_matrix(
        (np.ones(n * k), np.sort(idx, axis=1).ravel(), np.arange(0, n * k + 1, k)), shape=(n, n)
    )
    rec = fwd.multiply(fwd.T.tocsr()).tocsr()  # linear-time merge of sorted rows
    rec.sort_indices()
    return rec


def _expand_rows(ptr: sp.spmatrix, sel: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """All entry positions of the compressed rows (or columns) ``sel``.

    Returns ``(owner, pos)``: ``owner`` indexes ``sel``, ``pos`` indexes
    ``ptr.indices`` / ``ptr.data``; entries come in ``sel`` order.
    """
    start, count = ptr.indptr[sel], np.diff(ptr.indptr)[sel]
    owner = np.repeat(np.arange(len(sel), dtype=np.int64), count)
    offsets = np.arange(len(owner), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    return owner, np.repeat(start, count) + offsets


def _expanded_sets(idx: np.ndarray, half: int) -> Tuple[np.ndarray, np.ndarray]:
    """Sorted (row, col) pairs of the expanded k-reciprocal sets R*(i).

    Rows are taken in chunks so that the (i, c, e) triples never exceed
    ``_BLOCK_CONTRIB`` entries (about ``rows * k1 * half`` each).
    """
    n, k = idx.shape
    rec = _reciprocal(idx)
    rec_half = _reciprocal(idx[:, :half])
    half_len = np.diff(rec_half.indptr)
    ci = np.repeat(np.arange(n, dtype=np.int64), np.diff(rec.indptr))
    cc = rec.indices.astype(np.int64)
    step = max(1, _BLOCK_CONTRIB // (k * max(half, 1)))
    out = []
    for r0 in range(0, n, step):
        a, b = rec.indptr[r0], rec.indptr[min(r0 + step, n)]
        # Candidate pairs (i, c) with c in R(i) and the triples (i, c, e), e in R(c, half).
        owner, pos = _expand_rows(rec_half, cc[a:b])
        e = rec_half.indices[pos].astype(np.int64)
        in_rec = _lookup(ci, cc, ci[a:b][owner], e, n) >= 0
        overlap = np.bincount(owner, weights=in_rec, minlength=b - a)
        # |R(c, half) & R(i)| > 2/3 |R(c, half)|, in integers.
        take = (3 * overlap > 2 * half_len[cc[a:b]])[owner]
        keys = np.concatenate([ci[a:b] * n + cc[a:b], ci[a:b][owner[take]] * n + e[take]])
        keys = np.sort(keys)
        out.append(keys[np.concatenate([[True], keys[1:] != keys[:-1]])])
    return np.divmod(np.concatenate(out), n)


def _kreciprocal_weights(
    x: np.ndarray, sims: np.ndarray, idx: np.ndarray, half: int
) -> sp.csr_matrix:
    """V: softmax of -(2 - 2 cos) over each row's expanded set."""
    n, k = idx.shape
    rows, cols = _expanded_sets(idx, half)
    # Reuse the kNN similarities where the pair is in the forward list.
    pos = _lookup(np.repeat(np.arange(n, dtype=np.int64), k), idx.ravel(), rows, cols, n)
    hit = pos >= 0
    s = np.empty(len(rows), dtype=np.float32)
    s[hit] = sims.ravel()[pos[hit]]
    s[~hit] = pair_similarity(x, rows[~hit], cols[~hit])
    w = np.exp(-(2.0 - 2.0 * s.astype(np.float64)))
    w /= np.bincount(rows, weights=w, minlength=n)[rows]
    return _csr(rows, cols, w, n)


def _min_overlap(
    vqe: sp.csr_matrix, max_distance: Optional[float]
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted, mirrored (row, col, distance) entries of the overlapping pairs
    within ``max_distance``, the diagonal included once."""
    n = vqe.shape[0]
    self_s = np.bincount(
        np.repeat(np.arange(n), np.diff(vqe.indptr)), weights=vqe.data, minlength=n
    )
    diag = np.arange(n, dtype=np.int64)
    parts = [(diag, diag, to_distance(self_s))]
    if max_distance is not None:
        keep = parts[0][2] <= max_distance
        parts = [(diag[keep], diag[keep], parts[0][2][keep])]
    parts += [(r, c, d) for _, r, c, d in overlap_blocks(vqe, max_distance)]
    rows = np.concatenate([p[0] for p in parts])
    cols = np.concatenate([p[1] for p in parts])
    dist = np.concatenate([p[2] for p in parts])
    del parts
    # Mirror the upper triangle; the diagonal is listed once.
    off = rows != cols
    rows, cols = np.concatenate([rows, cols[off]]), np.concatenate([cols, rows[off]])
    dist = np.concatenate([dist, dist[off]])
    order = np.argsort(rows * n + cols)
    return rows[order], cols[order], dist[order]


def query_expanded_weights(x: np.ndarray, k1: int = 30, k2: int = 6) -> sp.csr_matrix:
    """``V_qe``: the query-expanded k-reciprocal encodings (N, N), sorted CSR."""
    n = x.shape[0]
    k1, half, k2 = neighbour_sizes(n, k1, k2)
    sims, idx = knn_normalized(x, k1)
    v = _kreciprocal_weights(x, sims, idx, half)
    if k2 > 1:  # V_qe[i] = mean of V over the first k2 neighbours of i
        q = sp.csr_matrix(
            (np.full(n * k2, 1.0 / k2), idx[:, :k2].ravel(), np.arange(0, n * k2 + 1, k2)),
            shape=(n, n),
        )
        v = q @ v
        v.sort_indices()
    return v


def jaccard_from_normalized(
    x: np.ndarray, k1: int = 30, k2: int = 6, max_distance: Optional[float] = None
) -> sp.csr_matrix:
    """:func:`sparse_jaccard_distance` on features already passed through
    :func:`normalize_features`."""
    v = query_expanded_weights(x, k1, k2)
    # Built from raw arrays so that exact-zero distances stay stored.
    return _csr(*_min_overlap(v, max_distance), x.shape[0])


def sparse_jaccard_distance(
    features: ArrayLike, k1: int = 30, k2: int = 6, max_distance: Optional[float] = None
) -> sp.csr_matrix:
    """k-reciprocal Jaccard distance, stored only where it is below 1.

    Args:
        features (np.ndarray | torch.Tensor): (N, D) features, L2-normalised
            here.
        k1 (int): k-reciprocal neighbourhood size (including self), clipped
            to N.
        k2 (int): Query-expansion neighbourhood size (including self).
        max_distance (float, optional): If given, keep only pairs with
            distance <= max_distance (all that DBSCAN with ``eps`` needs).

    Returns:
        scipy.sparse.csr_matrix: (N, N) float64 distances of every pair whose
        query-expanded encodings overlap (all other pairs have distance 1),
        with sorted indices. The diagonal and exact-zero distances are stored
        explicitly; do not call ``eliminate_zeros`` on the result.
    """
    return jaccard_from_normalized(normalize_features(features), k1, k2, max_distance)
