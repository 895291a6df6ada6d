# Copyright (c) tpr_mm contributors. All rights reserved.
"""Bidirectional hardest-negative ranking loss on a similarity matrix (CFine's CR loss).

Source: shuanglinyan/CFine:utils/CRLoss.py (``CRLoss``).
"""

import torch

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss

__all__ = ['hardest_negative_ranking_loss', 'HardestNegativeRankingLoss']


def _one_direction(sim: torch.Tensor, labels: torch.Tensor, margin: float) -> torch.Tensor:
    n = sim.shape[0]
    pos = sim.diagonal()
    negative = labels.view(-1, 1) != labels.view(1, -1)  # (N, N): column j is a negative of row i
    hinge = sim - pos.view(-1, 1) + margin
    hardest = hinge.masked_fill(~negative, float('-inf')).max(dim=1).values  # -inf: no negative
    qualifies = (hardest > margin) & (hardest > 0)
    if bool(qualifies.any()):
        return hardest[qualifies].clamp(min=0).sum()
    # No anchor violates the ranking: one fallback triplet keeps the loss defined, as in the
    # reference code (last anchor, its first negative). Its value is within [0, margin].
    last = n - 1
    first_neg = int(negative[last].nonzero()[0, 0])
    return hinge[last, first_neg].clamp(min=0)


def hardest_negative_ranking_loss(
    sim: torch.Tensor, labels: torch.Tensor, margin: float = 0.2
) -> torch.Tensor:
    """Triplet loss with the in-batch hardest negative, images and texts as anchors.

    For anchor row i of ``sim`` (image i vs all texts) the positive is the
    paired text ``sim[i, i]`` and the candidates are texts of other
    identities. Let ``h_ij = sim[i, j] - sim[i, i] + margin``; the hardest
    negative ``n = argmax_j h_ij`` is used only if it already outranks the
    positive (``h_in > margin`` and ``h_in > 0``), contributing
    ``max(0, h_in)``. The same is done on ``sim.T`` (text anchors) and the
    contributions are summed (not averaged).

    Edge cases: if no anchor of a direction qualifies, that direction adds the
    single triplet (last anchor, its first negative); if the batch holds one
    identity only there are no negatives and the loss is 0.

    Args:
        sim (Tensor): (N, N) scores, rows images, columns their paired texts.
        labels (Tensor): (N,) identity labels.
        margin (float): Defaults to 0.2.

    Returns:
        Tensor: scalar loss.
    """
    if sim.ndim != 2 or sim.shape[0] != sim.shape[1] or sim.shape[0] != labels.numel():
        raise ValueError(
            f'sim must be (N, N) with N = len(labels); got {tuple(sim.shape)} and '
            f'{labels.numel()} labels'
        )
    if not bool((labels.view(-1, 1) != labels.view(1, -1)).any()):
        return sim.sum() * 0.0  # keeps the graph connected for DDP
    return _one_direction(sim, labels, margin) + _one_direction(sim.t(), labels, margin)


@MODELS.register_module()
class HardestNegativeRankingLoss(BaseLoss):
    """Weighted :func:`hardest_negative_ranking_loss`.

    Args:
        margin (float): Defaults to 0.2 (CFine).
        loss_weight (float): Defaults to 10.0 (CFine).
        loss_name (str): Defaults to ``'loss_rank'``.
    """

    needs = frozenset({'scores', 'labels'})

    def __init__(
        self, margin: float = 0.2, loss_weight: float = 10.0, loss_name: str = 'loss_rank'
    ) -> None:
        super().__init__(loss_weight, loss_name)
        self.margin = margin

    def forward(self, scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Args: (N, N) image-text scores (rows images) and (N,) identity labels."""
        return self.loss_weight * hardest_negative_ranking_loss(scores, labels, self.margin)
