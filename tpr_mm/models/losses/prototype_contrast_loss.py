# Copyright (c) tpr_mm contributors. All rights reserved.
"""Prototype-level contrast of CPCL's Hybrid Cross-modal Matching (HCM).

Source: alibaba/cluster-contrast-reid:clustercontrast/models/cm.py (``ClusterMemory.forward``:
cross-entropy of normalised features against the memory over a temperature).
"""

from typing import Optional

import torch
import torch.nn.functional as F

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss


def prototype_contrast_loss(
    feats: torch.Tensor, prototypes: torch.Tensor, labels: torch.Tensor, temperature: float = 0.05
) -> torch.Tensor:
    """Cross-entropy of features against a prototype bank, outliers masked.

    ``CE(norm(f_i) @ M^T / tau, y_i)`` averaged over the rows with
    ``y_i >= 0``; rows with ``y_i == -1`` (outliers) take no part. When no row
    is valid (or the bank is empty) the result is a zero that is still
    connected to ``feats``, so every rank back-propagates the same graph.

    Args:
        feats (Tensor): (B, D) features (normalised inside).
        prototypes (Tensor): (C, D) unit prototypes (no gradient).
        labels (Tensor): (B,) int64 cluster labels in ``-1..C-1``.
        temperature (float): tau. Defaults to 0.05 (tau_m, cluster-contrast's ``temp``).

    Returns:
        Tensor: scalar loss.
    """
    valid = labels >= 0
    if not bool(valid.any()) or prototypes.shape[0] == 0:
        return feats.sum() * 0.0
    if int(labels.max().item()) >= prototypes.shape[0]:
        raise IndexError(
            f'prototype_contrast_loss: label {int(labels.max().item())} out of range '
            f'for {prototypes.shape[0]} prototypes'
        )
    f = F.normalize(feats[valid], dim=-1)
    logits = f @ prototypes.detach().to(f.dtype).t() / temperature
    return F.cross_entropy(logits, labels[valid])


class _PrototypeLossBase(BaseLoss):
    """Shared arguments and the memory check of the two prototype losses."""

    needs = frozenset(
        {'img_feats', 'text_feats', 'img_labels', 'txt_labels', 'img_protos', 'txt_protos'}
    )

    def __init__(self, temperature: float, loss_weight: float, loss_name: str) -> None:
        super().__init__(loss_weight, loss_name)
        self.temperature = temperature

    def _term(self, feats, protos, labels) -> torch.Tensor:
        if protos is None:
            raise ValueError(
                f'{type(self).__name__} needs prototype memories; configure the head with a memory'
            )
        return prototype_contrast_loss(feats, protos, labels, self.temperature)


@MODELS.register_module()
class IntraModalPrototypeLoss(_PrototypeLossBase):
    """``L_vv + L_tt``: each modality against its own prototypes.

    ``L_vv = CE(f^v M^v^T / tau, y^v)``, ``L_tt = CE(f^t M^t^T / tau, y^t)``
    (HCM [ASSUMED], docs/methods/cpcl.md#what-it-is).

    Args:
        temperature (float): tau_m. Defaults to 0.05.
        loss_weight (float): lambda_p. Defaults to 1.0.
        loss_name (str): Defaults to ``'loss_proto_intra'``.
    """

    def __init__(
        self,
        temperature: float = 0.05,
        loss_weight: float = 1.0,
        loss_name: str = 'loss_proto_intra',
    ) -> None:
        super().__init__(temperature, loss_weight, loss_name)

    def forward(
        self,
        img_feats: torch.Tensor,
        text_feats: torch.Tensor,
        img_labels: torch.Tensor,
        txt_labels: torch.Tensor,
        img_protos: Optional[torch.Tensor] = None,
        txt_protos: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        loss = self._term(img_feats, img_protos, img_labels) + self._term(
            text_feats, txt_protos, txt_labels
        )
        return self.loss_weight * loss


@MODELS.register_module()
class CrossModalPrototypeLoss(_PrototypeLossBase):
    """``L_vt + L_tv``: each modality against the other's prototypes.

    An image is pulled to the text prototype of its caption's cluster and a
    caption to the image prototype of its image's cluster:
    ``L_vt = CE(f^v M^t^T / tau, y^t)``, ``L_tv = CE(f^t M^v^T / tau, y^v)``.
    Because the two clusterings are independent, this links image and text
    clusters many-to-many (HCM [ASSUMED], docs/methods/cpcl.md#what-it-is).

    Args:
        temperature (float): tau_m. Defaults to 0.05.
        loss_weight (float): lambda_c. Defaults to 1.0.
        loss_name (str): Defaults to ``'loss_proto_cross'``.
    """

    def __init__(
        self,
        temperature: float = 0.05,
        loss_weight: float = 1.0,
        loss_name: str = 'loss_proto_cross',
    ) -> None:
        super().__init__(temperature, loss_weight, loss_name)

    def forward(
        self,
        img_feats: torch.Tensor,
        text_feats: torch.Tensor,
        img_labels: torch.Tensor,
        txt_labels: torch.Tensor,
        img_protos: Optional[torch.Tensor] = None,
        txt_protos: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        loss = self._term(img_feats, txt_protos, txt_labels) + self._term(
            text_feats, img_protos, img_labels
        )
        return self.loss_weight * loss
