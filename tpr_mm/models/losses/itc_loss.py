# Copyright (c) tpr_mm contributors. All rights reserved.
"""Image–text contrastive (InfoNCE) loss, CLIP's objective.

Source: anosorae/IRRA:model/objectives.py (``compute_itc``).
"""

import torch
import torch.nn.functional as F

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss


def itc_loss(
    img_feats: torch.Tensor, text_feats: torch.Tensor, temperature: float = 0.02
) -> torch.Tensor:
    """Symmetric InfoNCE with the diagonal as the only positive.

    Uses pairs only, never identity labels — the weakly supervised baseline.

    Args:
        img_feats (Tensor): (N, D) image embeddings (normalised inside).
        text_feats (Tensor): (N, D) embeddings of the paired captions.
        temperature (float): τ. Defaults to 0.02.

    Returns:
        Tensor: scalar, (CE_i2t + CE_t2i) / 2.
    """
    img = F.normalize(img_feats, dim=-1)
    txt = F.normalize(text_feats, dim=-1)
    logits = img @ txt.t() / temperature
    target = torch.arange(logits.size(0), device=logits.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2


@MODELS.register_module()
class ITCLoss(BaseLoss):
    """Weighted :func:`itc_loss`; ignores labels.

    Args:
        temperature (float): τ. Defaults to 0.02.
        loss_weight (float): Defaults to 1.0.
        loss_name (str): Defaults to ``'loss_itc'``.
    """

    needs = frozenset({'img_feats', 'text_feats'})

    def __init__(
        self, temperature: float = 0.02, loss_weight: float = 1.0, loss_name: str = 'loss_itc'
    ) -> None:
        super().__init__(loss_weight, loss_name)
        self.temperature = temperature

    def forward(self, img_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * itc_loss(img_feats, text_feats, self.temperature)
