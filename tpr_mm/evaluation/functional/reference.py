# Copyright (c) tpr_mm contributors. All rights reserved.
"""Naive full-sort retrieval metrics: the oracle for tests and benchmarks."""
from typing import Dict, Sequence

import numpy as np
import torch


def naive_rank_metrics(similarity, query_ids, gallery_ids,
                       ks: Sequence[int] = (1, 5, 10)) -> Dict[str, float]:
    """Rank-k, mAP and mINP by fully sorting every row (the field's evaluator).

    A stable descending argsort of the whole (Q, G) matrix: among equal
    scores the lower gallery index ranks first. Float64 arithmetic. Memory
    and time grow as Q×G×log G — use :func:`rank_metrics` for real work.

    Args:
        similarity: (Q, G) scores, array or tensor.
        query_ids: (Q,) identities of the queries.
        gallery_ids: (G,) identities of the gallery items.
        ks (Sequence[int]): Ranks reported as ``R{k}``.

    Returns:
        dict: ``R{k}`` for each k, ``mAP`` and ``mINP``, in percent.
    """
    sim = torch.as_tensor(np.asarray(similarity), dtype=torch.float64)
    q = torch.as_tensor(np.asarray(query_ids)).long()
    g = torch.as_tensor(np.asarray(gallery_ids)).long()
    order = torch.sort(sim, dim=1, descending=True, stable=True).indices
    matches = (g[order] == q[:, None]).double()
    num_pos = matches.sum(1)
    if (num_pos == 0).any():
        raise ValueError(f'{int((num_pos == 0).sum())} queries have no positive gallery item')
    ranks = torch.arange(1, sim.shape[1] + 1, dtype=torch.float64)
    hits = matches.cumsum(1)
    out = {f'R{k}': float((hits[:, min(k, sim.shape[1]) - 1] > 0).double().mean() * 100)
           for k in ks}
    precision = hits / ranks
    ap = (precision * matches).sum(1) / num_pos
    last = (matches * ranks).max(1).values
    out['mAP'] = float(ap.mean() * 100)
    out['mINP'] = float((num_pos / last).mean() * 100)
    return out
