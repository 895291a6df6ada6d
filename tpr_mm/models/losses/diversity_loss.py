# Copyright (c) tpr_mm contributors. All rights reserved.
"""Diversity loss pushing the group features of one sample apart (CFine).

Source: shuanglinyan/CFine:utils/metric.py (``Loss.diversity_loss``).
"""

from typing import Sequence

import torch
import torch.nn.functional as F

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss

__all__ = ['diversity_loss', 'DiversityLoss']


def diversity_loss(feats: torch.Tensor) -> torch.Tensor:
    """Off-diagonal Gram norm of each sample's normalised group features.

    For sample b with G group features, ``M = X̂ X̂ᵀ`` (G, G) with the diagonal
    zeroed; the loss is ``mean_b ||M_b||_F / G²``.

    Args:
        feats (Tensor): (N, G, D) group features.

    Returns:
        Tensor: scalar loss (0 for G < 2).
    """
    x = F.normalize(feats, dim=-1)
    gram = x @ x.transpose(1, 2)
    eye = torch.eye(x.shape[1], dtype=torch.bool, device=x.device)
    gram = gram.masked_fill(eye, 0.0)
    return (gram.flatten(1).norm(dim=1) / x.shape[1] ** 2).mean()


@MODELS.register_module()
class DiversityLoss(BaseLoss):
    """:func:`diversity_loss` of the image groups plus that of the text groups.

    Args:
        loss_weight (float): λ_div. Defaults to 0.2 (CFine).
        loss_name (str): Defaults to ``'loss_div'``.
    """

    needs = frozenset({'img_groups', 'text_groups'})

    def __init__(self, loss_weight: float = 0.2, loss_name: str = 'loss_div') -> None:
        super().__init__(loss_weight, loss_name)

    def forward(
        self, img_groups: Sequence[torch.Tensor], text_groups: Sequence[torch.Tensor]
    ) -> torch.Tensor:
        """Args: lists of G (N, D) group features per modality (no global).

        With a single group there is nothing to diversify and the loss is 0.
        """
        if not len(img_groups) or not len(text_groups):
            raise ValueError(
                'DiversityLoss needs group features; with MGF off (no groups) the head skips it'
            )
        if len(img_groups) < 2 or len(text_groups) < 2:
            return img_groups[0].sum() * 0.0
        loss = diversity_loss(torch.stack(list(img_groups), 1))
        loss = loss + diversity_loss(torch.stack(list(text_groups), 1))
        return self.loss_weight * loss
