# Copyright (c) tpr_mm contributors. All rights reserved.
"""Pair alignment loss: pull each image towards its own caption."""

import torch
import torch.nn.functional as F

from tpr_mm.models.losses import BaseLoss
from tpr_mm.registry import MODELS


def pair_alignment_loss(img_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
    """Mean cosine distance between paired embeddings.

    Args:
        img_feats (Tensor): (N, D) image embeddings (normalised inside).
        text_feats (Tensor): (N, D) embeddings of the paired captions.

    Returns:
        Tensor: scalar ``mean_i (1 - cos(v_i, t_i))``, in [0, 2].
    """
    if img_feats.shape != text_feats.shape:
        raise ValueError(
            f'img_feats {tuple(img_feats.shape)} and text_feats '
            f'{tuple(text_feats.shape)} must have the same (N, D) shape'
        )
    cos = (F.normalize(img_feats, dim=-1) * F.normalize(text_feats, dim=-1)).sum(dim=-1)
    return (1.0 - cos).mean()


@MODELS.register_module()
class PairAlignmentLoss(BaseLoss):
    """Weighted :func:`pair_alignment_loss`; uses pairs only, no identity labels.

    ``needs`` names the head inputs ``forward`` takes: the paired embeddings
    and nothing else, so a head never looks labels up for it and the loss
    also works for weakly supervised training.

    Args:
        loss_weight (float): Multiplier. Defaults to 1.0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_align'``.
    """

    needs = frozenset({'img_feats', 'text_feats'})

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss_align') -> None:
        super().__init__(loss_weight, loss_name)

    def forward(self, img_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * pair_alignment_loss(img_feats, text_feats)
