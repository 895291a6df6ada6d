# Copyright (c) tpr_mm contributors. All rights reserved.
"""Instance-level SDM on pseudo labels: CPCL's HCM instance term.

Source: anosorae/IRRA:model/objectives.py (``compute_sdm``), here on pseudo labels.
"""

import torch

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss
from .sdm_loss import sdm_loss


def outliers_as_singletons(labels: torch.Tensor) -> torch.Tensor:
    """Give every -1 label its own fresh id, so it only matches itself.

    Args:
        labels (Tensor): (B,) int64 pseudo labels, -1 for outliers.

    Returns:
        Tensor: (B,) labels where each outlier i gets ``max(labels) + 1 + i``.
    """
    fresh = labels.max().clamp(min=-1) + 1 + torch.arange(labels.numel(), device=labels.device)
    return torch.where(labels >= 0, labels, fresh)


def pseudo_sdm_loss(
    img_feats: torch.Tensor,
    text_feats: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 0.02,
) -> torch.Tensor:
    """SDM with positives ``Q_ij = 1`` iff ``i == j`` or ``y_i == y_j != -1``.

    The diagonal (the sample's own pair) is always positive; outliers are
    singleton positives and never match each other.

    Args:
        img_feats (Tensor): (B, D) image features.
        text_feats (Tensor): (B, D) paired text features.
        labels (Tensor): (B,) pseudo labels, -1 for outliers.
        temperature (float): tau. Defaults to 0.02 (IRRA).

    Returns:
        Tensor: scalar loss (both directions summed, as :func:`sdm_loss`).
    """
    return sdm_loss(img_feats, text_feats, outliers_as_singletons(labels), temperature)


@MODELS.register_module()
class PseudoLabelSDMLoss(BaseLoss):
    """Weighted :func:`pseudo_sdm_loss` on one modality's pseudo labels.

    Args:
        label_modality (str): ``'img'`` (default: image clusters track
            identities better, per ICPG; see
            docs/methods/cpcl.md#defaults-and-their-sources) or ``'txt'``.
        temperature (float): tau. Defaults to 0.02.
        loss_weight (float): Defaults to 1.0.
        loss_name (str): Defaults to ``'loss_sdm'``.
    """

    needs = frozenset({'img_feats', 'text_feats', 'img_labels', 'txt_labels'})

    def __init__(
        self,
        label_modality: str = 'img',
        temperature: float = 0.02,
        loss_weight: float = 1.0,
        loss_name: str = 'loss_sdm',
    ) -> None:
        super().__init__(loss_weight, loss_name)
        if label_modality not in ('img', 'txt'):
            raise ValueError(
                f"PseudoLabelSDMLoss: label_modality must be 'img' or 'txt', got {label_modality!r}"
            )
        self.label_modality = label_modality
        self.temperature = temperature

    def forward(
        self,
        img_feats: torch.Tensor,
        text_feats: torch.Tensor,
        img_labels: torch.Tensor,
        txt_labels: torch.Tensor,
    ) -> torch.Tensor:
        labels = img_labels if self.label_modality == 'img' else txt_labels
        return self.loss_weight * pseudo_sdm_loss(img_feats, text_feats, labels, self.temperature)
