# Copyright (c) tpr_mm contributors. All rights reserved.
"""Naive full-sort retrieval metrics (IRRA-style): the oracle for tests and benchmarks.

Source: anosorae/IRRA:utils/metrics.py (``rank``).
"""

import logging
from typing import Dict, Sequence

import numpy as np
import torch
from mmengine.logging import print_log


def _tensor(x) -> torch.Tensor:
    return x if torch.is_tensor(x) else torch.from_numpy(np.ascontiguousarray(x))


def naive_rank_metrics(
    similarity,
    query_ids,
    gallery_ids,
    ks: Sequence[int] = (1, 5, 10),
    allow_no_positive: bool = False,
) -> Dict[str, float]:
    """Rank-k, mAP and mINP (percent) by fully sorting every row.

    Literal implementation of the definitions: a stable descending argsort of
    the whole (Q, G) matrix (equal scores: lower gallery index first), the
    (Q, G) match matrix in ranked order and its cumulative sum. Per query:
    Rank-k hit = any match in the first k (k > G clipped to G); AP = mean over
    matches of (matches so far) / rank, over the full ranking; INP = P / rank
    of the last match. Float64 arithmetic. Time O(Q·G·log G) and memory of
    several Q×G arrays — use :func:`rank_metrics` for real work.

    Args:
        similarity (Tensor | np.ndarray): (Q, G) scores, higher is better.
        query_ids: (Q,) integer identities.
        gallery_ids: (G,) integer identities.
        ks (Sequence[int]): Reported as ``R{k}``.
        allow_no_positive (bool): Exclude (with a warning) queries without
            positives instead of raising ``ValueError``.

    Returns:
        dict[str, float]: ``R{k}`` for each k, ``mAP`` and ``mINP``.
    """
    sim = _tensor(similarity)
    if sim.dim() != 2 or not sim.is_floating_point():
        raise ValueError(
            f'similarity must be a 2-D float matrix, got {tuple(sim.shape)} {sim.dtype}'
        )
    if bool(torch.isnan(sim).any()):
        raise ValueError(f'similarity has {int(torch.isnan(sim).sum())} NaN scores')
    q = _tensor(query_ids).reshape(-1).long().to(sim.device)
    g = _tensor(gallery_ids).reshape(-1).long().to(sim.device)
    if sim.shape != (len(q), len(g)):
        raise ValueError(
            f'similarity {tuple(sim.shape)} does not match {len(q)} query ids '
            f'and {len(g)} gallery ids'
        )
    # compact int32 labels keep the (Q, G) temporaries small; the sort is the textbook one
    labels = torch.unique(torch.cat([q, g]), return_inverse=True)[1].int()
    q, g = labels[: len(q)], labels[len(q) :]
    order = torch.argsort(sim, dim=1, descending=True, stable=True)
    matches = g[order] == q[:, None]
    del order
    num_pos = matches.sum(1)
    missing = int((num_pos == 0).sum())
    if missing and not allow_no_positive:
        raise ValueError(f'{missing} of {len(q)} queries have no positive gallery item')
    if missing:
        print_log(
            f'{missing} queries without positives excluded', logger='current', level=logging.WARNING
        )
        matches, num_pos = matches[num_pos > 0], num_pos[num_pos > 0]
    if len(matches) == 0:
        raise ValueError('no query has a positive gallery item')
    hits = matches.cumsum(1, dtype=torch.int32)  # matches so far at every rank
    out = {}
    for k in ks:
        out[f'R{k}'] = 100.0 * float((hits[:, min(k, len(g)) - 1] > 0).double().mean())
    row, col = matches.nonzero(as_tuple=True)  # every positive, in rank order
    rank = col.double() + 1
    ap = torch.zeros(len(matches), dtype=torch.float64, device=sim.device)
    ap.index_add_(0, row, hits[row, col].double() / rank)
    out['mAP'] = 100.0 * float((ap / num_pos.double()).mean())
    last = torch.zeros_like(ap).scatter_reduce_(0, row, rank, 'amax')
    out['mINP'] = 100.0 * float((num_pos.double() / last).mean())
    return out
