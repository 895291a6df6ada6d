# Copyright (c) tpr_mm contributors. All rights reserved.
"""Retrieval metrics and top-k lists from query and gallery features.

The (Q, G) similarity (cosine unless ``normalize=False``) is produced one
query chunk at a time into one reused buffer and handed to the exact metric of
:mod:`.ranking`, so the Q x G matrix never exists (ICFG-PEDES size: 19,848 x
19,848 in ~245 MB). ``topk_indices`` keeps the metrics' tie rule (equal
scores: lower gallery index first).

Source: the metric definitions of anosorae/IRRA:utils/metrics.py (``rank``).
"""

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .ranking import _chunk_rows, _evaluate, _ids, _scores


def _features(query_feats, gallery_feats, normalize: bool):
    qf = _scores(query_feats, 'query_feats')
    gf = _scores(gallery_feats, 'gallery_feats').to(device=qf.device, dtype=qf.dtype)
    for name, f in (('query_feats', qf), ('gallery_feats', gf)):
        if f.dim() != 2:
            raise ValueError(f'{name} must be 2-D (N, D), got shape {tuple(f.shape)}')
        if f.numel() and not bool(torch.isfinite(torch.stack(torch.aminmax(f))).all()):
            bad = ~torch.isfinite(f).all(1)
            first = int(bad.nonzero()[0])
            raise ValueError(
                f'{name} has non-finite values in {int(bad.sum())} rows, first at row {first}'
            )
    if qf.shape[1] != gf.shape[1]:
        raise ValueError(f'feature dims differ: query {qf.shape[1]}, gallery {gf.shape[1]}')
    if normalize:
        qf, gf = F.normalize(qf, dim=1), F.normalize(gf, dim=1)
    return qf, gf


def _score_chunks(qf: torch.Tensor, gf: torch.Tensor, rows: int):
    """Yield (start, qf[start:start+rows] @ gf.T) reusing one output buffer."""
    buf = torch.empty(rows, gf.shape[0], dtype=qf.dtype, device=qf.device)
    for start in range(0, qf.shape[0], rows):
        q = qf[start : start + rows]
        yield start, torch.mm(q, gf.t(), out=buf[: len(q)])


def rank_metrics_from_features(
    query_feats,
    gallery_feats,
    query_ids,
    gallery_ids,
    ks: Sequence[int] = (1, 5, 10),
    chunk_size: Optional[int] = None,
    normalize: bool = True,
    allow_no_positive: bool = False,
) -> Dict[str, float]:
    """As :func:`rank_metrics`, from (Q, D) and (G, D) features.

    The similarity (cosine: features L2-normalised unless ``normalize=False``)
    is computed one query chunk at a time, so the Q×G matrix never exists.
    Non-finite features raise ``ValueError``.
    """
    qf, gf = _features(query_feats, gallery_feats, normalize)
    q_ids = _ids(query_ids, 'query_ids', qf.shape[0], qf.device)
    g_ids = _ids(gallery_ids, 'gallery_ids', gf.shape[0], qf.device)
    rows = min(_chunk_rows(gf.shape[0], chunk_size), max(qf.shape[0], 1))
    chunks = _score_chunks(qf, gf, rows)
    # Unit-norm finite features cannot give NaN scores; raw ones can (inf - inf).
    return _evaluate(chunks, q_ids, g_ids, ks, allow_no_positive, rows, not normalize)


def topk_indices(
    query_feats, gallery_feats, k: int, chunk_size: Optional[int] = None, normalize: bool = True
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Top-k gallery items per query by (cosine) similarity, chunked.

    Same tie rule as the metrics (equal scores: lower gallery index first), so
    the order matches the ranks behind ``R{k}``. k > G is clipped to G.

    Returns:
        tuple[Tensor, Tensor]: scores (Q, k) and int64 indices (Q, k), best first.
    """
    qf, gf = _features(query_feats, gallery_feats, normalize)
    k = min(int(k), gf.shape[0])
    if k < 1:
        raise ValueError(f'k must be >= 1 and the gallery non-empty, got k={k}')
    rows = min(_chunk_rows(gf.shape[0], chunk_size), max(qf.shape[0], 1))
    scores, indices = [], []
    for _, sim in _score_chunks(qf, gf, rows):
        val, idx = sim.topk(k, dim=1)
        # Equal scores straddling the k-th place: redo those rows with a stable sort.
        kth = val[:, -1:]
        spill = torch.ge(sim, kth).sum(1) > k
        for r in spill.nonzero().flatten().tolist():
            idx[r] = torch.sort(sim[r], descending=True, stable=True).indices[:k]
            val[r] = sim[r, idx[r]]
        # Order within the k: value descending, then index ascending.
        idx, perm = idx.sort(dim=1)
        val, perm = val.gather(1, perm).sort(dim=1, descending=True, stable=True)
        scores.append(val)
        indices.append(idx.gather(1, perm))
    return torch.cat(scores), torch.cat(indices)
