# Copyright (c) tpr_mm contributors. All rights reserved.
"""Exact text-to-image retrieval metrics without sorting the gallery.

Definitions (the field's, see docs/evaluation.md): for query i with P_i
positives (gallery items of its identity) and r_i1 < ... < r_iP their
1-based ranks,

* Rank-k  = % of queries with r_i1 <= k (CMC, capped at one hit);
* AP_i    = (1/P_i) Σ_m m / r_im over the full ranking; mAP = mean AP_i;
* INP_i   = P_i / r_iP (rank of the hardest positive); mINP = mean INP_i.

**Tie rule**: equal scores are ordered by gallery index (lower first), i.e.
the result equals a *stable* descending sort of each row.

How: the ranks of the positives need only, for every negative, how many
positives outrank it. Sorting the few positive scores of each query and
bucketing every negative score among them (``searchsorted``) gives a
histogram whose cumulative sum is the number of negatives above each
positive. Work is O(Q·G·log P) in query chunks, with no Q×G argsort.
"""
import math
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

_CHUNK_BYTES = 256 * 2**20


def _as_tensor(x, dtype=None) -> torch.Tensor:
    t = x if torch.is_tensor(x) else torch.from_numpy(np.ascontiguousarray(x))
    return t if dtype is None else t.to(dtype)


def _auto_chunk(num_gallery: int, chunk_size: Optional[int]) -> int:
    if chunk_size:
        return max(1, int(chunk_size))
    # float32 scores + int64 buckets + bool masks per gallery item
    return max(1, _CHUNK_BYTES // (max(num_gallery, 1) * 24))


def _positive_ranks(sim: torch.Tensor, match: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """1-based ranks of every positive, padded with +inf, and the counts P.

    Args:
        sim (Tensor): (C, G) float scores of a query chunk.
        match (Tensor): (C, G) bool, True where the gallery item is positive.

    Returns:
        tuple: ranks (C, Pmax) float64 ascending (+inf padding), P (C,).
    """
    c, g = sim.shape
    num_pos = match.sum(1)
    pmax = int(num_pos.max()) if c else 0
    if pmax == 0:
        return torch.full((c, 0), math.inf, dtype=torch.float64), num_pos
    # Positive scores ascending, padded with +inf so padding never counts as "above".
    pos_scores = torch.where(match, sim, torch.full_like(sim, math.inf))
    pos_sorted = pos_scores.topk(pmax, dim=1, largest=False, sorted=True).values
    # Bucket of each score = #positives strictly above it (ties handled below).
    above = pmax - torch.searchsorted(pos_sorted, sim.contiguous(), right=True)
    above = above - (pmax - num_pos)[:, None]  # remove the +inf padding
    neg = ~match
    hist = torch.zeros(c, pmax + 1, dtype=torch.int64)
    hist.scatter_add_(1, above.clamp(0, pmax), neg.long())
    # negatives above the m-th best positive = negatives in buckets 0..m-1
    neg_above = hist[:, :pmax].cumsum(1)
    m = torch.arange(1, pmax + 1, dtype=torch.float64)
    ranks = m[None, :] + neg_above.double()
    valid = m[None, :] <= num_pos[:, None]
    ranks = torch.where(valid, ranks, torch.full_like(ranks, math.inf))
    # Exact tie rule: a negative tying a positive outranks it iff its index is lower.
    left = torch.searchsorted(pos_sorted, sim.contiguous(), right=False)
    tie_rows = ((left != torch.searchsorted(pos_sorted, sim.contiguous(), right=True)) & neg)
    for row in torch.nonzero(tie_rows.any(1)).flatten().tolist():
        order = torch.sort(sim[row], descending=True, stable=True).indices
        pos_rank = torch.nonzero(match[row][order]).flatten().double() + 1
        ranks[row, :pos_rank.numel()] = pos_rank
    return ranks, num_pos


def rank_metrics(similarity,
                 query_ids,
                 gallery_ids,
                 ks: Sequence[int] = (1, 5, 10),
                 chunk_size: Optional[int] = None,
                 allow_no_positive: bool = False) -> Dict[str, float]:
    """Rank-k, mAP and mINP from a (Q, G) similarity matrix.

    Args:
        similarity (Tensor | np.ndarray): (Q, G) scores, higher = more similar.
        query_ids: (Q,) integer identities of the queries.
        gallery_ids: (G,) integer identities of the gallery items.
        ks (Sequence[int]): Ranks reported as ``R{k}``; k > G counts as G.
        chunk_size (int, optional): Queries per chunk; default from a
            ~256 MB working-memory budget.
        allow_no_positive (bool): Queries without any positive raise a
            ``ValueError`` by default; if True they are excluded.

    Returns:
        dict[str, float]: ``R{k}`` for each k, ``mAP``, ``mINP`` in percent.

    Examples:
        >>> rank_metrics(torch.eye(3), [0, 1, 2], [0, 1, 2])['R1']
        100.0
    """
    sim = _as_tensor(similarity)
    if sim.dim() != 2:
        raise ValueError(f'similarity must be 2-D (Q, G), got shape {tuple(sim.shape)}')
    if not sim.is_floating_point():
        sim = sim.float()
    q_ids = _as_tensor(query_ids).long().reshape(-1).to(sim.device)
    g_ids = _as_tensor(gallery_ids).long().reshape(-1).to(sim.device)
    if sim.shape != (q_ids.numel(), g_ids.numel()):
        raise ValueError(f'similarity {tuple(sim.shape)} does not match {q_ids.numel()} query '
                         f'ids and {g_ids.numel()} gallery ids')
    chunk = _auto_chunk(sim.shape[1], chunk_size)
    return _accumulate(((sim[s:s + chunk], q_ids[s:s + chunk])
                        for s in range(0, sim.shape[0], chunk)), g_ids, ks, allow_no_positive)


def rank_metrics_from_features(query_feats,
                               gallery_feats,
                               query_ids,
                               gallery_ids,
                               ks: Sequence[int] = (1, 5, 10),
                               chunk_size: Optional[int] = None,
                               normalize: bool = True,
                               allow_no_positive: bool = False) -> Dict[str, float]:
    """As :func:`rank_metrics`, from (Q, D) and (G, D) features.

    Cosine similarity (features L2-normalised unless ``normalize=False``) is
    computed one query chunk at a time, so the Q×G matrix never exists.
    """
    qf = _as_tensor(query_feats).float()
    gf = _as_tensor(gallery_feats).float().to(qf.device)
    if normalize:
        qf, gf = F.normalize(qf, dim=1), F.normalize(gf, dim=1)
    q_ids = _as_tensor(query_ids).long().reshape(-1).to(qf.device)
    g_ids = _as_tensor(gallery_ids).long().reshape(-1).to(qf.device)
    if qf.shape[0] != q_ids.numel() or gf.shape[0] != g_ids.numel():
        raise ValueError('feature and id counts differ')
    chunk = _auto_chunk(gf.shape[0], chunk_size)
    gt = gf.t().contiguous()
    return _accumulate(((qf[s:s + chunk] @ gt, q_ids[s:s + chunk])
                        for s in range(0, qf.shape[0], chunk)), g_ids, ks, allow_no_positive)


def _accumulate(chunks, g_ids: torch.Tensor, ks: Sequence[int],
                allow_no_positive: bool) -> Dict[str, float]:
    num_gallery = g_ids.numel()
    hits = {k: 0 for k in ks}
    ap_sum = inp_sum = 0.0
    counted = skipped = 0
    for sim, q in chunks:
        match = q[:, None] == g_ids[None, :]
        ranks, num_pos = _positive_ranks(sim.cpu() if sim.is_cuda else sim, match.cpu())
        keep = num_pos > 0
        skipped += int((~keep).sum())
        if not keep.all():
            ranks, num_pos = ranks[keep], num_pos[keep]
        if num_pos.numel() == 0:
            continue
        first = ranks[:, 0]
        for k in ks:
            hits[k] += int((first <= min(k, num_gallery)).sum())
        m = torch.arange(1, ranks.shape[1] + 1, dtype=torch.float64)
        finite = torch.isfinite(ranks)
        prec = torch.where(finite, m[None, :] / ranks, torch.zeros_like(ranks))
        ap_sum += float((prec.sum(1) / num_pos.double()).sum())
        last = ranks.gather(1, (num_pos - 1)[:, None]).squeeze(1)
        inp_sum += float((num_pos.double() / last).sum())
        counted += num_pos.numel()
    if skipped and not allow_no_positive:
        raise ValueError(f'{skipped} queries have no positive gallery item; pass '
                         'allow_no_positive=True to exclude them')
    if counted == 0:
        raise ValueError('no query has a positive gallery item')
    out = {f'R{k}': 100.0 * hits[k] / counted for k in ks}
    out['mAP'] = 100.0 * ap_sum / counted
    out['mINP'] = 100.0 * inp_sum / counted
    return out


def topk_indices(query_feats, gallery_feats, k: int,
                 chunk_size: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Top-k gallery items per query by cosine similarity, chunked.

    Returns:
        tuple[Tensor, Tensor]: scores (Q, k) and indices (Q, k), best first.
    """
    qf = F.normalize(_as_tensor(query_feats).float(), dim=1)
    gf = F.normalize(_as_tensor(gallery_feats).float().to(qf.device), dim=1)
    k = min(k, gf.shape[0])
    chunk = _auto_chunk(gf.shape[0], chunk_size)
    scores, indices = [], []
    for s in range(0, qf.shape[0], chunk):
        val, idx = (qf[s:s + chunk] @ gf.t()).topk(k, dim=1)
        scores.append(val)
        indices.append(idx)
    return torch.cat(scores), torch.cat(indices)
