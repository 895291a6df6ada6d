# Copyright (c) tpr_mm contributors. All rights reserved.
"""Exact k-nearest-neighbour search by cosine similarity.

The neighbour order is canonical so that a dense reference and this sparse
path agree bit for bit: every sample lists itself first, then the others by
decreasing *canonical similarity* and increasing index. The canonical
similarity of two samples is their float64 dot product (after float64 L2
normalisation) rounded to float32; the rounding hides the last-bit noise of
different summation orders, so it does not depend on how it was computed.

A proposer (:mod:`.candidates`: bfloat16 GEMM blocks, or faiss float32)
returns ``m`` candidates per row with approximate scores and an error bound
``tol``; :func:`certify` re-scores canonically only the candidates that can
still reach the top k, and accepts a row only when its ``k``-th neighbour
beats every sample it did not re-score by more than ``tol``. Rows that fail
go to the next, more precise stage (bfloat16 -> faiss float32 -> exact
against all samples, which handles large groups of exact duplicates), so the
result never depends on which proposer ran.
"""

import time
from typing import Tuple, Union

import numpy as np
import torch

from .candidates import BF16_DOT_TOL, Bfloat16Proposer, FaissIndex, faiss_tolerance, use_gpu

ArrayLike = Union[np.ndarray, torch.Tensor]

# Small chunks keep the gathered rows in cache.
_PAIR_CHUNK = 8192
_ROW_CHUNK = 256
# Extra candidates of the bfloat16 proposer (its bound is ~80x faiss' one).
_BF16_MARGIN = 96
# Rows timed with both proposers before choosing one; below 16x this, faiss only.
_PROBE_ROWS = 1024
_STAGE_ROWS = 8192
PROPOSERS = ('auto', 'bf16', 'faiss')


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


def certify(
    x: np.ndarray, r: np.ndarray, cand: np.ndarray, approx: np.ndarray, k: int, tol: float
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical top-k of rows ``r`` from approximate candidate lists.

    Args:
        x (np.ndarray): (N, D) float64 unit rows.
        r (np.ndarray): (B,) query rows.
        cand (np.ndarray): (B, M) candidate columns sorted by ``approx``
            (descending); may hold the row itself and -1 padding.
        approx (np.ndarray): (B, M) approximate similarities, each within
            ``tol`` of the float64 dot; every column not listed scores at
            most the row's last ``approx``.
        k (int): Neighbours per row including self, ``2 <= k``.
        tol (float): The error bound of ``approx``.

    Returns:
        tuple: ``(sims, idx, ok)``: (B, k) float32 canonical similarities,
        (B, k) int64 columns (self first), and (B,) bool, True where the
        row is certified (other rows must be recomputed).
    """
    b, m = cand.shape
    if m < k - 1:  # too few candidates to certify anything
        return np.zeros((b, k), np.float32), np.zeros((b, k), np.int64), np.zeros(b, bool)
    bad = (cand == r[:, None]) | (cand < 0)
    order = np.argsort(bad, axis=1, kind='stable')  # valid first, still descending
    c = np.take_along_axis(cand, order, 1)
    a = np.take_along_axis(approx, order, 1).astype(np.float64)
    valid = m - bad.sum(axis=1)
    a[np.arange(m) >= valid[:, None]] = -np.inf
    # Only candidates within 2 tol of the (k-1)-th approximate score can reach
    # the top k: the (k-1) above it are all >= that score - tol exactly.
    floor = a[:, k - 2] - 2 * tol
    w = np.maximum((a >= floor[:, None]).sum(axis=1), k - 1)
    width = int(w.max())
    inside = np.arange(width) < w[:, None]
    # One gather of the query row per row (the batched form of pair_similarity).
    sims = np.einsum('bd,bmd->bm', x[r], x[np.maximum(c[:, :width], 0)]).astype(np.float32)
    # A bound violated: distrust the row (sims is finite, a is -inf past valid).
    wrong = (inside & (np.abs(sims - a[:, :width]) > tol)).any(axis=1)
    sims[~inside] = -np.inf
    c_full = np.concatenate([r[:, None], c[:, :width]], axis=1)
    s_full = np.concatenate([np.full((b, 1), np.inf, np.float32), sims], axis=1)
    top = np.lexsort((c_full, -s_full.astype(np.float64)), axis=1)[:, :k]
    top_s = np.take_along_axis(s_full, top, 1)
    top_i = np.take_along_axis(c_full, top, 1)
    # Every sample not re-scored scores at most the first score after the window.
    after = np.where(w < valid, a[np.arange(b), np.minimum(w, m - 1)], approx[:, -1])
    ok = (top_s[:, -1].astype(np.float64) > after + tol) & (valid >= k - 1) & ~wrong
    top_s[:, 0] = pair_similarity(x, r, r)
    return top_s, top_i, ok


def _run_stage(x, proposer, rows, k, m, tol, out_sims, out_idx) -> np.ndarray:
    """Propose and certify ``rows`` in chunks; returns the rows that failed."""
    failed = []
    for s in range(0, len(rows), _STAGE_ROWS):
        r = rows[s : s + _STAGE_ROWS]
        approx, cand = proposer.search(r, m)
        for t in range(0, len(r), _ROW_CHUNK):
            rr = r[t : t + _ROW_CHUNK]
            sl = slice(t, t + _ROW_CHUNK)
            top_s, top_i, ok = certify(x, rr, cand[sl], approx[sl], k, tol)
            out_sims[rr[ok]], out_idx[rr[ok]] = top_s[ok], top_i[ok]
            failed.append(rr[~ok])
    return np.concatenate(failed) if failed else rows[:0]


def knn_normalized(
    x: np.ndarray, k: int, margin: int = 8, proposer: str = 'auto'
) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`knn_search` on features already passed through
    :func:`normalize_features`."""
    n = x.shape[0]
    if k < 1:
        raise ValueError(f'k must be >= 1, got {k}')
    if proposer not in PROPOSERS:
        raise ValueError(f'proposer must be one of {PROPOSERS}, got {proposer!r}')
    k = min(k, n)
    m = min(n, k + 4 * margin)
    if k == 1:  # self only
        rows = np.arange(n)
        return pair_similarity(x, rows, rows)[:, None], rows[:, None]
    if m == n:
        return _exact_rows(x, np.arange(n), k)
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    out_sims = np.empty((n, k), dtype=np.float32)
    out_idx = np.empty((n, k), dtype=np.int64)
    todo = np.arange(n, dtype=np.int64)
    index = FaissIndex(x32)
    ftol = faiss_tolerance(x.shape[1])
    if proposer == 'bf16' or (proposer == 'auto' and not use_gpu() and n >= 16 * _PROBE_ROWS):
        bf16 = Bfloat16Proposer(x32)
        mb = min(n, k + _BF16_MARGIN)
        if proposer == 'auto':  # time both on the first rows; identical results either way
            probe, todo = todo[:_PROBE_ROWS], todo[_PROBE_ROWS:]
            t0 = time.perf_counter()
            left_f = _run_stage(x, index, probe, k, m, ftol, out_sims, out_idx)
            t1 = time.perf_counter()
            left_b = _run_stage(x, bf16, probe, k, mb, BF16_DOT_TOL, out_sims, out_idx)
            t2 = time.perf_counter()
            exact = np.intersect1d(left_f, left_b)
            # bfloat16 first pays off when its cost plus faiss on its failures is lower.
            if (t2 - t1) + (t1 - t0) * len(left_b) / len(probe) >= t1 - t0:
                bf16 = None
        else:
            exact = todo[:0]
        if bf16 is not None:
            todo = _run_stage(x, bf16, todo, k, mb, BF16_DOT_TOL, out_sims, out_idx)
    else:
        exact = todo[:0]
    todo = _run_stage(x, index, todo, k, m, ftol, out_sims, out_idx)
    failed = np.concatenate([exact, todo])
    if failed.size:
        out_sims[failed], out_idx[failed] = _exact_rows(x, failed, k)
    return out_sims, out_idx


def knn_search(
    features: ArrayLike, k: int, margin: int = 8, proposer: str = 'auto'
) -> Tuple[np.ndarray, np.ndarray]:
    """Exact canonical k-nearest neighbours by cosine similarity.

    Args:
        features (np.ndarray | torch.Tensor): (N, D) features; L2-normalised
            here (float64).
        k (int): Neighbours per row including the row itself; clipped to N.
        margin (int): faiss proposes ``k + 4 * margin`` candidates per row
            to certify exactness. Only affects speed.
        proposer (str): Candidate source: ``'bf16'`` (bfloat16 GEMM blocks,
            failures then go to faiss), ``'faiss'`` (float32 faiss only) or
            ``'auto'`` (times both on the first rows and keeps the faster;
            faiss only on GPU and for small N). Only affects speed.

    Returns:
        tuple[np.ndarray, np.ndarray]: ``sims`` (N, k') float32 canonical
        similarities and ``idx`` (N, k') int64 neighbour indices with
        ``k' = min(k, N)``; ``idx[:, 0]`` is the row itself.
    """
    return knn_normalized(normalize_features(features), k, margin, proposer)
