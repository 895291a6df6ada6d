# Copyright (c) tpr_mm contributors. All rights reserved.
"""Overlapping pairs of the query-expanded k-reciprocal encodings, block by block.

The Jaccard similarity of rows ``i`` and ``j`` of ``V_qe`` is summed only over
columns both rows use, through an inverted (column) index. The number of
overlapping pairs depends on the data (a hub column shared by G rows gives
G^2 / 2 of them), so they are produced in blocks of bounded work and cut at
the caller's radius before they leave the block.
"""

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Deque, Iterator, List, Optional, Tuple

import numpy as np
import scipy.sparse as sp

# Contributions (row, column-mate) handled per block: bounds every intermediate.
_BLOCK_CONTRIB = 1 << 22


def _column_index(vqe: sp.csr_matrix):
    """Inverted (column-major) index of ``vqe`` and, per entry, its column-mates.

    Returns ``(col_rows, col_vals, first, count)``: the rows and values of
    every column in column-major order (rows ascending within a column), and
    for entry ``(i, k)`` the column-major position of the first mate ``j > i``
    and the number of such mates.
    """
    n, nnz = vqe.shape[0], vqe.nnz
    itype = np.int32 if nnz + _BLOCK_CONTRIB < 2**31 else np.int64
    perm = np.argsort(vqe.indices, kind='stable').astype(itype)
    col_rows = np.repeat(np.arange(n, dtype=itype), np.diff(vqe.indptr))[perm]
    col_vals = vqe.data[perm]
    col_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(vqe.indices, minlength=n), out=col_ptr[1:])
    first = np.empty(nnz, dtype=np.int64)
    first[perm] = np.arange(1, nnz + 1)
    del perm
    count = col_ptr[vqe.indices + 1] - first
    return col_rows, col_vals, first, count


def to_distance(s: np.ndarray) -> np.ndarray:
    """Jaccard distance from the summed overlap ``s`` of two unit-mass rows."""
    return np.maximum(1.0 - s / (2.0 - s), 0.0)


def _block_bounds(row_cum: np.ndarray, n: int, block: int) -> List[Tuple[int, int]]:
    """Row ranges ``[i0, i1)`` of at most ``block`` contributions (or one row)."""
    bounds, i0 = [], 0
    while i0 < n:
        i1 = int(np.searchsorted(row_cum, row_cum[i0] + block, side='right')) - 1
        i1 = min(max(i1, i0 + 1), n)
        bounds.append((i0, i1))
        i0 = i1
    return bounds


def _block_pairs(vqe, index, cum, i0: int, i1: int, block: int, cut: float):
    """Cut pairs ``(i, j, dist)`` of rows ``i0 <= i < i1`` (see :func:`overlap_blocks`)."""
    n = vqe.shape[0]
    col_rows, col_vals, first, count = index
    a, b = vqe.indptr[i0], vqe.indptr[i1]
    if cum[b] - cum[a] > block:  # one row over the budget: dense accumulator
        acc = np.zeros(n)
        e0 = a
        while e0 < b:
            e1 = int(np.searchsorted(cum, cum[e0] + block, side='right')) - 1
            e1 = min(max(e1, e0 + 1), b)
            cnt = count[e0:e1]
            pos = np.repeat(first[e0:e1] - cum[e0:e1], cnt) + np.arange(cum[e0], cum[e1])
            contrib = np.minimum(np.repeat(vqe.data[e0:e1], cnt), col_vals[pos])
            acc += np.bincount(col_rows[pos], weights=contrib, minlength=n)
            e0 = e1
        j = np.flatnonzero(acc)
        i = np.full(len(j), i0, dtype=np.int64)
        s = acc[j]
    else:
        cnt = count[a:b]
        # Positions in the column-major arrays, offsets taken within the block.
        pos = np.repeat((first[a:b] - (cum[a:b] - cum[a])).astype(col_rows.dtype), cnt)
        pos += np.arange(cum[b] - cum[a], dtype=col_rows.dtype)
        contrib = np.repeat(vqe.data[a:b], cnt)
        np.minimum(contrib, col_vals[pos], out=contrib)
        r_ptr = np.zeros(i1 - i0 + 1, dtype=np.int64)
        np.cumsum(np.diff(cum[vqe.indptr[i0 : i1 + 1]]), out=r_ptr[1:])
        acc = sp.csr_matrix((contrib, col_rows[pos], r_ptr), shape=(i1 - i0, n))
        del pos, contrib
        acc = acc.tocsc()
        acc.sum_duplicates()  # indices come out sorted: linear-time merge
        j = np.repeat(np.arange(n, dtype=np.int64), np.diff(acc.indptr))
        i = acc.indices.astype(np.int64) + i0
        s = acc.data
        del acc
    dist = to_distance(s)
    keep = dist <= cut
    return i[keep], j[keep], dist[keep]


def overlap_blocks(
    vqe: sp.csr_matrix,
    max_distance: Optional[float] = None,
    block: int = _BLOCK_CONTRIB,
    workers: Optional[int] = None,
) -> Iterator[Tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Jaccard distance of the overlapping pairs ``i < j``, block by block.

    For every entry ``(i, k)`` the inverted index of column ``k`` lists the
    rows ``j > i`` sharing it; their ``min`` contributions are summed per pair
    with two counting sorts (CSR -> CSC), never a comparison sort. Rows are
    taken in blocks of at most ``block`` contributions (a row with more is
    split over its entries into a dense (N,) accumulator), and each block is
    cut at ``max_distance`` before it is yielded, so no intermediate holds more
    than ``block`` contributions whatever the data.

    Blocks are independent, so ``workers`` threads compute them at once
    (numpy and scipy's sparse kernels release the GIL); blocks are still
    yielded in row order, and at most ``workers`` are in flight, so memory
    stays ``workers`` x one block's intermediates.

    Args:
        vqe (scipy.sparse.csr_matrix): (N, N) query-expanded encodings with
            sorted indices.
        max_distance (float, optional): Keep pairs with distance <= this.
        block (int): Contributions per block.
        workers (int, optional): Threads; defaults to
            ``torch.get_num_threads()`` (``OMP_NUM_THREADS``).

    Yields:
        tuple: ``(i1, rows, cols, dist)``: every pair ``(i, j)``, ``i < j``,
        with ``i0 <= i < i1`` (``i0`` the previous block's ``i1``), overlapping
        supports and ``dist <= max_distance``; int64, int64, float64.
    """
    n = vqe.shape[0]
    if workers is None:
        import torch

        workers = torch.get_num_threads()
    index = _column_index(vqe)
    count = index[3]
    cum = np.zeros(len(count) + 1, dtype=np.int64)
    np.cumsum(count, out=cum[1:])
    cut = np.inf if max_distance is None else max_distance
    bounds = _block_bounds(cum[vqe.indptr], n, block)
    if workers <= 1 or len(bounds) < 2:
        for i0, i1 in bounds:
            yield (i1, *_block_pairs(vqe, index, cum, i0, i1, block, cut))
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: Deque = deque()
        for i0, i1 in bounds:
            pending.append((i1, pool.submit(_block_pairs, vqe, index, cum, i0, i1, block, cut)))
            if len(pending) >= workers:
                i_end, fut = pending.popleft()
                yield (i_end, *fut.result())
        while pending:
            i_end, fut = pending.popleft()
            yield (i_end, *fut.result())
