# Copyright (c) tpr_mm contributors. All rights reserved.
"""Exact text-to-image retrieval metrics without sorting the gallery.

For query i with P_i positives (gallery items of its identity) at 1-based
ranks r_i1 < ... < r_iP over the **full** ranking:

* ``R{k}`` = % of queries with r_i1 <= k (CMC, one hit is enough);
* AP_i = (1/P_i) Σ_m m / r_im, ``mAP`` = mean AP_i (%);
* INP_i = P_i / r_iP, ``mINP`` = mean INP_i (%).

**Tie rule**: equal scores are ordered by gallery index, lower first: the
results equal a *stable* descending sort of each row, exactly, also on tied or
quantised scores. **Queries without positives** raise ``ValueError`` (saying
how many) unless ``allow_no_positive=True``, which excludes them with a logged
warning. **ks larger than G** are clipped to G. NaN scores raise ``ValueError``.

How: a positive's rank is 1 + the number of items ranked before it, so no sort
is needed. Per query chunk, items below the worst positive are dropped by one
comparison; the rest get exact monotone per-query histogram buckets whose
cumulative counts give the items in higher buckets; items sharing a positive's
bucket are compared one by one (score, then index). Torch ops on the inputs'
device (numpy for the dense scan on CPU).

Source: the metric definitions of anosorae/IRRA:utils/metrics.py (``rank``).
"""

import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterator, Optional, Sequence

import numpy as np
import torch
from mmengine.logging import print_log

_CHUNK_BYTES = 64 * 2**20  # float32 scores per query chunk (plus a bool mask)
_MAX_CANDIDATES = 2**22  # more candidates in a chunk (~45 B each): split its rows
_BUCKETS = 4096  # most histogram buckets per query, between worst and best positive
_POOL: Optional[ThreadPoolExecutor] = None  # threads for the numpy candidate scan


def _forget_pool() -> None:
    # A forked child inherits the pool object but not its threads; it would
    # queue work no thread ever runs. The child builds its own pool.
    global _POOL
    _POOL = None


os.register_at_fork(after_in_child=_forget_pool)


def _as_tensor(x) -> torch.Tensor:
    return x if torch.is_tensor(x) else torch.from_numpy(np.ascontiguousarray(x))


def _scores(x, name: str) -> torch.Tensor:
    t = _as_tensor(x).detach()
    if not t.is_floating_point():
        raise TypeError(f'{name} must be floating point, got {t.dtype}')
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


def _ids(x, name: str, n: int, device) -> torch.Tensor:
    t = _as_tensor(x).reshape(-1)
    if t.is_floating_point() or t.is_complex():
        raise TypeError(f'{name} must hold integers, got {t.dtype}')
    if t.numel() != n:
        raise ValueError(f'{name} has {t.numel()} entries, expected {n}')
    return t.to(device=device, dtype=torch.int64)


def _chunk_rows(num_gallery: int, chunk_size: Optional[int]) -> int:
    if chunk_size is not None:
        if int(chunk_size) < 1:
            raise ValueError(f'chunk_size must be >= 1, got {chunk_size}')
        return int(chunk_size)
    return max(1, _CHUNK_BYTES // (4 * max(num_gallery, 1)))


def _positive_index(q_ids: torch.Tensor, g_sorted: torch.Tensor, g_order: torch.Tensor):
    """Positives of each query: (C, Pmax) gallery indices (padding 0), valid mask, P (C,)."""
    lo = torch.searchsorted(g_sorted, q_ids)
    num_pos = torch.searchsorted(g_sorted, q_ids, right=True) - lo
    pmax = max(int(num_pos.max()) if num_pos.numel() else 0, 1)
    steps = torch.arange(pmax, device=q_ids.device)
    valid = steps[None, :] < num_pos[:, None]
    where = (lo[:, None] + steps[None, :]).clamp_(max=max(g_order.numel() - 1, 0))
    # g_order comes from a stable sort, so each query's positives are ascending.
    return torch.where(valid, g_order[where], torch.zeros_like(where)), valid, num_pos


def _candidates(sim: torch.Tensor, lo: torch.Tensor, buf: Optional[np.ndarray]) -> torch.Tensor:
    """Flat indices (ascending) of the chunk's scores >= their row's threshold.

    On CPU numpy's comparison and ``flatnonzero`` are 3-10x faster than torch's
    (measured) and release the GIL, so row blocks run in threads.
    """
    c, g = sim.shape
    if sim.device.type != 'cpu':
        return torch.ge(sim, lo[:, None]).view(-1).nonzero().squeeze(1)
    s, t = sim.numpy(), lo.numpy()[:, None]
    hit = np.empty(s.shape, dtype=bool) if buf is None else buf[:c]

    def part(a: int, b: int) -> np.ndarray:
        np.greater_equal(s[a:b], t[a:b], out=hit[a:b])
        return np.flatnonzero(hit[a:b]) + a * g

    n = min(torch.get_num_threads(), c)
    if n < 2 or c * g < 2**20:
        return torch.from_numpy(part(0, c))
    global _POOL
    if _POOL is None or _POOL._max_workers < n:
        if _POOL is not None:
            _POOL.shutdown(wait=False)  # idle: its threads exit now
        _POOL = ThreadPoolExecutor(n, thread_name_prefix='tpr_mm_rank')
    cuts = np.linspace(0, c, n + 1).astype(int).tolist()
    return torch.from_numpy(np.concatenate(list(_POOL.map(part, cuts[:-1], cuts[1:]))))


def _positive_ranks(
    sim: torch.Tensor, pos_idx: torch.Tensor, valid: torch.Tensor, buf: Optional[np.ndarray] = None
) -> torch.Tensor:
    """1-based rank (stable tie rule) of every positive of a query chunk.

    Args:
        sim (Tensor): (C, G) contiguous scores; every row has >= 1 positive.
        pos_idx (Tensor): (C, Pmax) gallery indices of positives.
        valid (Tensor): (C, Pmax) bool, False for padding; a prefix per row.
        buf (np.ndarray, optional): (>= C, G) bool scratch buffer (CPU).

    Returns:
        Tensor: (C, Pmax) int64 ranks, in any order within a row (valid first).
    """
    (c, g), dev = sim.shape, sim.device
    inf = torch.tensor(math.inf, dtype=sim.dtype, device=dev)
    # Positives by ascending score per row (so their bucket codes come out sorted).
    pos_val, order = torch.where(valid, sim.gather(1, pos_idx), inf).sort(dim=1, stable=True)
    pos_idx = pos_idx.gather(1, order)
    lo, hi = pos_val[:, 0], torch.where(valid, pos_val, -inf).amax(1)
    if not bool(torch.isfinite(lo).all() & torch.isfinite(hi).all()):  # fallback: full sort
        order = torch.sort(sim, dim=1, descending=True, stable=True).indices
        ranks = torch.arange(1, g + 1, device=dev).expand_as(order)
        return torch.empty_like(order).scatter_(1, order, ranks).gather(1, pos_idx)
    # Candidates: items not below the worst positive (the others rank after all positives).
    flat = _candidates(sim, lo, buf)
    if len(flat) > _MAX_CANDIDATES and c > 1:  # bounded memory for poor rankings
        cut = [(0, c // 2), (c // 2, c)]
        return torch.cat([_positive_ranks(sim[a:b], pos_idx[a:b], valid[a:b], buf) for a, b in cut])
    x = sim.view(-1).index_select(0, flat)
    row_start = torch.searchsorted(flat, torch.arange(c + 1, device=dev) * g)
    step = torch.zeros(len(flat), dtype=torch.int64, device=dev)
    step.index_add_(0, row_start[1:-1], torch.ones(c - 1, dtype=torch.int64, device=dev))
    rows = step.cumsum_(0)
    # Monotone bucket map y = x * 2^e - lo * 2^e: the product is exact (power of two, no
    # overflow by the cap on e), so y is one correctly rounded sum on every code path.
    # About one bucket per candidate of the query (measured best), at most _BUCKETS.
    buckets = row_start.diff().clamp(16, _BUCKETS)
    mag = torch.maximum(lo.abs(), hi.abs()).double().clamp_min(1e-300)
    span = (hi.double() - lo.double()).clamp_min(1e-300)
    e = torch.floor(torch.minimum(torch.log2((buckets - 1) / span), 100 - torch.log2(mag)))
    e.clamp_(0, 60)
    scale = torch.exp2(e).to(sim.dtype)
    y = torch.addcmul((-(lo * scale)).index_select(0, rows), x, scale.index_select(0, rows))
    y = torch.minimum(y, buckets.to(y.dtype).index_select(0, rows), out=y)
    seg_end = buckets.add(1).cumsum(0)  # row r owns codes [seg_end[r-1], seg_end[r])
    code = y.to(torch.int64).add_((seg_end - buckets - 1).index_select(0, rows))
    del y
    csum = torch.bincount(code, minlength=int(seg_end[-1])).cumsum_(0)
    # Positives are candidates: locate them; their codes ascend (rows, then scores).
    p_row = torch.arange(c, device=dev)[:, None].expand_as(pos_idx)[valid]
    p_flat = p_row * g + pos_idx[valid]
    p_cand = torch.searchsorted(flat, p_flat)
    p_code = code.index_select(0, p_cand)
    # items of the query in strictly higher buckets
    before = csum.index_select(0, seg_end.index_select(0, p_row) - 1) - csum.index_select(0, p_code)
    # Items sharing a bucket with a positive: compare exactly (score, then index).
    lut = torch.zeros(len(csum), dtype=torch.bool, device=dev).index_fill_(0, p_code, True)
    shared = lut.index_select(0, code).nonzero().squeeze(1)
    s_code = code.index_select(0, shared)
    first = torch.searchsorted(p_code, s_code)
    count = torch.searchsorted(p_code, s_code, right=True) - first
    pair_item = torch.repeat_interleave(shared, count)
    offset = torch.repeat_interleave(first - count.cumsum(0) + count, count)
    pair_pos = torch.arange(len(pair_item), device=dev) + offset
    xi, xp = x[pair_item], x[p_cand[pair_pos]]
    ahead = (xi > xp) | ((xi == xp) & (flat[pair_item] < p_flat[pair_pos]))
    before.index_add_(0, pair_pos, ahead.long())
    return torch.zeros_like(pos_idx).masked_scatter_(valid, before + 1)


def _has_nan(sim: torch.Tensor) -> bool:
    """max propagates NaN; numpy's max is several times faster than torch's on CPU."""
    if sim.device.type == 'cpu':
        return sim.numel() > 0 and bool(np.isnan(sim.numpy().max()))
    return sim.numel() > 0 and bool(sim.amax().isnan())


def _query_stats(ranks: torch.Tensor, valid: torch.Tensor, num_pos: torch.Tensor):
    """First rank, AP and INP (float64, CPU) of each query from its positives' ranks."""
    r = ranks.masked_fill(~valid, torch.iinfo(torch.int64).max).sort(dim=1).values.double()
    m = torch.arange(1, r.shape[1] + 1, dtype=torch.float64, device=r.device)
    npos = num_pos.double()
    ap = torch.where(m[None, :] <= npos[:, None], m / r, torch.zeros_like(r)).sum(1) / npos
    inp = npos / r.gather(1, (num_pos - 1)[:, None]).squeeze(1)
    return r[:, 0].cpu(), ap.cpu(), inp.cpu()


def _evaluate(chunks: Iterator, q_ids, g_ids, ks, allow_no_positive, rows, check_nan) -> Dict:
    """Metrics over (start, (C, G) scores) chunks; see :func:`rank_metrics`."""
    g_sorted, g_order = torch.sort(g_ids, stable=True)
    num_pos = torch.searchsorted(g_sorted, q_ids, right=True) - torch.searchsorted(g_sorted, q_ids)
    missing = int((num_pos == 0).sum())
    if missing and not allow_no_positive:
        msg = f'{missing} of {len(q_ids)} queries have no positive gallery item'
        raise ValueError(f'{msg}; pass allow_no_positive=True to exclude them')
    if missing:
        print_log(f'{missing} queries without positives excluded', 'current', logging.WARNING)
    ks = tuple(int(k) for k in ks)
    if not ks or min(ks) < 1:
        raise ValueError(f'ks must be positive integers, got {ks}')
    stats, buf = [], np.empty((rows, len(g_ids)), bool) if g_ids.device.type == 'cpu' else None
    for start, sim in chunks:
        if check_nan and _has_nan(sim):
            bad = int(torch.isnan(sim).sum())
            rows_txt = f'{start}..{start + len(sim) - 1}'
            raise ValueError(f'similarity has {bad} NaN scores in query rows {rows_txt}')
        keep = num_pos[start : start + len(sim)] > 0
        if not bool(keep.all()):
            sim = sim[keep]
        if len(sim) == 0:
            continue
        q = q_ids[start : start + len(keep)][keep]
        pos_idx, valid, npos = _positive_index(q, g_sorted, g_order)
        ranks = _positive_ranks(sim.contiguous(), pos_idx, valid, buf)
        stats.append(_query_stats(ranks, valid, npos))
    if not stats:
        raise ValueError('no query has a positive gallery item')
    first, ap, inp = (torch.cat(v) for v in zip(*stats))
    out = {f'R{k}': 100.0 * float((first <= min(k, len(g_ids))).double().mean()) for k in ks}
    out.update(mAP=100.0 * float(ap.mean()), mINP=100.0 * float(inp.mean()))
    return out


def rank_metrics(
    similarity,
    query_ids,
    gallery_ids,
    ks: Sequence[int] = (1, 5, 10),
    chunk_size: Optional[int] = None,
    allow_no_positive: bool = False,
) -> Dict[str, float]:
    """Rank-k, mAP and mINP (percent) from a similarity matrix, exactly.

    Args:
        similarity (Tensor | np.ndarray): (Q, G) scores, higher is better.
        query_ids: (Q,) integer identities (any int dtype, array or tensor).
        gallery_ids: (G,) integer identities.
        ks (Sequence[int]): Reported as ``R{k}``; k > G is clipped to G.
        chunk_size (int, optional): Queries per chunk; by default 64 MB of
            scores (working memory is about twice that).
        allow_no_positive (bool): Exclude (with a warning) queries without
            positives instead of raising ``ValueError``. Defaults to False.

    Returns:
        dict[str, float]: ``R{k}`` for each k, ``mAP`` and ``mINP``.

    Examples:
        >>> rank_metrics(torch.eye(3), [0, 1, 2], [0, 1, 2])['R1']
        100.0
    """
    sim = _scores(similarity, 'similarity')
    if sim.dim() != 2:
        raise ValueError(f'similarity must be 2-D (Q, G), got shape {tuple(sim.shape)}')
    q_ids = _ids(query_ids, 'query_ids', sim.shape[0], sim.device)
    g_ids = _ids(gallery_ids, 'gallery_ids', sim.shape[1], sim.device)
    rows = min(_chunk_rows(sim.shape[1], chunk_size), max(sim.shape[0], 1))
    chunks = ((s, sim[s : s + rows]) for s in range(0, sim.shape[0], rows))
    return _evaluate(chunks, q_ids, g_ids, ks, allow_no_positive, rows, True)
