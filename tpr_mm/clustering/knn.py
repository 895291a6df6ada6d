# Copyright (c) tpr_mm contributors. All rights reserved.
"""Exact k-nearest-neighbour search by cosine similarity.

The neighbour order is canonical so that a dense reference and this sparse
path agree bit for bit: every sample lists itself first, then the others by
decreasing *canonical similarity* and increasing index. The canonical
similarity of two samples is their float64 dot product (after float64 L2
normalisation) rounded to float32; the rounding hides the last-bit noise of
different summation orders, so it does not depend on how it was computed.

faiss (float32, GPU when available) proposes ``k + margin`` candidates per row;
they are re-scored canonically, and a row is accepted only when its ``k``-th
neighbour beats the best possible unseen sample by more than the float32
error bound. Rows that fail (large groups of exact duplicates) are recomputed
exactly against all samples.
"""

from typing import Tuple, Union

import faiss
import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor]

# Bound on |faiss float32 dot - float64 dot| of unit vectors: worst-case input
# rounding plus recursive float32 summation over D terms, i.e. (D + 2) * 2^-24,
# doubled, never below 1e-4. GPUs may run the GEMM in TF32 (10-bit mantissa),
# hence the looser GPU floor.
_CPU_DOT_TOL = 1e-4
_GPU_DOT_TOL = 3e-3
# Small chunks keep the gathered rows in cache.
_PAIR_CHUNK = 8192
_ROW_CHUNK = 256


def normalize_features(features: ArrayLike) -> np.ndarray:
    """Validate features and L2-normalise them in float64.

    Args:
        features (np.ndarray | torch.Tensor): (N, D) features, any float dtype
            and device.

    Returns:
        np.ndarray: (N, D) float64 unit-norm rows.
    """
    if isinstance(features, torch.Tensor):
        features = features.detach().to('cpu', torch.float64).numpy()
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f'features must have shape (N, D) with N, D >= 1, got {x.shape}')
    bad = np.flatnonzero(~np.isfinite(x).all(axis=1))
    if bad.size:
        raise ValueError(f'features row {int(bad[0])} is not finite ({bad.size} such rows)')
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    bad = np.flatnonzero(norms[:, 0] == 0)
    if bad.size:
        raise ValueError(f'features row {int(bad[0])} has zero norm ({bad.size} such rows)')
    return x / norms


def pair_similarity(x: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Canonical similarity of the pairs ``(rows[p], cols[p])``.

    Args:
        x (np.ndarray): (N, D) float64 unit-norm features.
        rows (np.ndarray): (P,) int indices.
        cols (np.ndarray): (P,) int indices.

    Returns:
        np.ndarray: (P,) float32 similarities.
    """
    out = np.empty(len(rows), dtype=np.float32)
    for s in range(0, len(rows), _PAIR_CHUNK):
        r, c = rows[s : s + _PAIR_CHUNK], cols[s : s + _PAIR_CHUNK]
        out[s : s + _PAIR_CHUNK] = np.einsum('pd,pd->p', x[r], x[c])
    return out


def _use_gpu() -> bool:
    return faiss.get_num_gpus() > 0 and hasattr(faiss, 'GpuIndexFlatIP')


def _faiss_search(x32: np.ndarray, m: int) -> Tuple[np.ndarray, np.ndarray]:
    """Top-m inner products of every row (float32 faiss, GPU when available)."""
    dim = x32.shape[1]
    if _use_gpu():
        index = faiss.GpuIndexFlatIP(faiss.StandardGpuResources(), dim)
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(x32)
    sims, idx = index.search(x32, m)
    return sims, idx.astype(np.int64)


def _exact_rows(x: np.ndarray, rows: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
    """Canonical top-k of the given rows against all samples (exact fallback)."""
    n = x.shape[0]
    sims_out = np.empty((len(rows), k), dtype=np.float32)
    idx_out = np.empty((len(rows), k), dtype=np.int64)
    step = max(1, (1 << 22) // n)
    for s in range(0, len(rows), step):
        r = rows[s : s + step]
        sims = (x[r] @ x.T).astype(np.float32)
        key = sims.copy()
        key[np.arange(len(r)), r] = np.inf  # self first
        kth = np.partition(key, n - k, axis=1)[:, n - k]
        # Everything tied with the k-th largest stays in; the index breaks ties.
        rr, cc = np.nonzero(key >= kth[:, None])
        order = np.lexsort((cc, -key[rr, cc].astype(np.float64), rr))
        rr, cc = rr[order], cc[order]
        take = np.searchsorted(rr, np.arange(len(r)))[:, None] + np.arange(k)
        idx_out[s : s + step] = cc[take]
        sims_out[s : s + step] = sims[rr[take], cc[take]]
    return sims_out, idx_out


def knn_normalized(x: np.ndarray, k: int, margin: int = 8) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`knn_search` on features already passed through
    :func:`normalize_features`."""
    n = x.shape[0]
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    k = min(k, n)
    tol = max(_GPU_DOT_TOL if _use_gpu() else _CPU_DOT_TOL, 2 * (x.shape[1] + 2) * 2.0**-24)
    m = min(n, k + (4 * margin if _use_gpu() else margin))
    if m == n:
        return _exact_rows(x, np.arange(n), k)
    approx, cand = _faiss_search(np.ascontiguousarray(x, dtype=np.float32), m)
    rows = np.arange(n, dtype=np.int64)
    out_sims = np.empty((n, k), dtype=np.float32)
    out_idx = np.empty((n, k), dtype=np.int64)
    failed = []
    for s in range(0, n, _ROW_CHUNK):
        r = rows[s : s + _ROW_CHUNK]
        c = cand[s : s + _ROW_CHUNK]
        # Self is prepended with +inf; faiss' own copy of it (or -1 padding)
        # becomes a -inf sentinel, so ties at 1.0 cannot push self out.
        c = np.where((c == r[:, None]) | (c < 0), -1, c)
        sims = np.einsum('bd,bmd->bm', x[r], x[np.maximum(c, 0)]).astype(np.float32)
        sims[c < 0] = -np.inf
        c_full = np.concatenate([r[:, None], c], axis=1)
        s_full = np.concatenate([np.full((len(r), 1), np.inf, np.float32), sims], axis=1)
        order = np.lexsort((c_full, -s_full.astype(np.float64)), axis=1)[:, :k]
        top_s = np.take_along_axis(s_full, order, 1)
        top_i = np.take_along_axis(c_full, order, 1)
        # Any sample faiss did not return has similarity <= its m-th score + tol.
        bound = approx[s : s + _ROW_CHUNK, -1].astype(np.float64) + tol
        kth = top_s[:, -1].astype(np.float64) if k > 1 else np.full(len(r), np.inf)
        failed.append(r[~(kth > bound)])
        top_s[:, 0] = pair_similarity(x, r, r)
        out_sims[s : s + _ROW_CHUNK], out_idx[s : s + _ROW_CHUNK] = top_s, top_i
    failed = np.concatenate(failed)
    if failed.size:
        out_sims[failed], out_idx[failed] = _exact_rows(x, failed, k)
    return out_sims, out_idx


def knn_search(features: ArrayLike, k: int, margin: int = 8) -> Tuple[np.ndarray, np.ndarray]:
    """Exact canonical k-nearest neighbours by cosine similarity.

    Args:
        features (np.ndarray | torch.Tensor): (N, D) features; L2-normalised
            here (float64).
        k (int): Neighbours per row including the row itself; clipped to N.
        margin (int): Extra faiss candidates per row used to certify
            exactness. Only affects speed.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``sims`` (N, k') float32 canonical
        similarities and ``idx`` (N, k') int64 neighbour indices with
        ``k' = min(k, N)``; ``idx[:, 0]`` is the row itself.
    """
    return knn_normalized(normalize_features(features), k, margin)
