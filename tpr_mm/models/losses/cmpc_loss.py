# Copyright (c) tpr_mm contributors. All rights reserved.
"""Cross-modal projection classification (CMPC) loss (Zhang & Lu, ECCV 2018), as used by CFine.

Source: shuanglinyan/CFine:utils/metric.py (``Loss.compute_cmpc_loss``).
"""

from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss

__all__ = ['cmpc_loss', 'CMPCLoss']


def cmpc_loss(
    img_feats: torch.Tensor, text_feats: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    """Identity classification of each feature projected onto its partner.

    ``v_i`` is projected onto the direction of its paired caption,
    ``(<v_i, t̂_i>) t̂_i``, and ``t_i`` onto ``v̂_i``; both projections are
    classified by the same matrix whose columns are L2-normalised (no bias,
    no scale) and the two cross-entropies (batch means) are added.

    Args:
        img_feats (Tensor): (N, D) image features.
        text_feats (Tensor): (N, D) paired text features.
        labels (Tensor): (N,) identity labels in [0, C).
        weight (Tensor): (D, C) classifier matrix (normalised here).

    Returns:
        Tensor: scalar loss.
    """
    img_dir = F.normalize(img_feats, dim=1)
    txt_dir = F.normalize(text_feats, dim=1)
    img_on_txt = (img_feats * txt_dir).sum(dim=1, keepdim=True) * txt_dir
    txt_on_img = (text_feats * img_dir).sum(dim=1, keepdim=True) * img_dir
    w = F.normalize(weight, dim=0)
    return F.cross_entropy(img_on_txt @ w, labels) + F.cross_entropy(txt_on_img @ w, labels)


@MODELS.register_module()
class CMPCLoss(BaseLoss):
    """:func:`cmpc_loss` over feature levels with one shared classifier.

    The classifier ``weight`` (D, C) is Xavier-uniform initialised and
    shared by every level and both modalities. Its parameter name contains
    ``classifier`` so schedules can give it the new-module learning rate.

    Args:
        in_channels (int): Feature dimension D.
        num_classes (int): Number of training identities C.
        level_weights (Sequence[float]): Weight of level k. Defaults to
            ``(1.0, 1.0, 1.0)`` (CFine).
        loss_weight (float): Global multiplier. Defaults to 1.0.
        loss_name (str): Defaults to ``'loss_cmpc'``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        level_weights: Sequence[float] = (1.0, 1.0, 1.0),
        loss_weight: float = 1.0,
        loss_name: str = 'loss_cmpc',
    ) -> None:
        super().__init__(loss_weight, loss_name)
        if num_classes is None or int(num_classes) < 1:
            raise ValueError(
                f'CMPCLoss needs num_classes = the number of training identities, got '
                f'{num_classes!r}; base configs leave it to the leaf config'
            )
        self.classifier_weight = nn.Parameter(torch.empty(in_channels, num_classes))
        nn.init.xavier_uniform_(self.classifier_weight, gain=1.0)
        self.num_classes = num_classes
        self.level_weights = tuple(float(w) for w in level_weights)

    def forward(
        self,
        img_feats: Union[torch.Tensor, Sequence[torch.Tensor]],
        text_feats: Union[torch.Tensor, Sequence[torch.Tensor]],
        labels: torch.Tensor,
        data_samples: Optional[Sequence] = None,
    ) -> torch.Tensor:
        """Args: lists of (N, D) features per level (global first), or one (N, D)
        tensor each (one level, as :class:`GlobalMatchingHead` passes them), and
        (N,) labels; ``data_samples`` is unused."""
        if isinstance(img_feats, torch.Tensor):
            img_feats, text_feats = [img_feats], [text_feats]
        if labels.numel() and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                f'CMPCLoss got labels outside [0, {self.num_classes}); num_classes must equal '
                'the number of training identities and the dataset must carry identity labels'
            )
        if len(img_feats) != len(text_feats) or len(img_feats) > len(self.level_weights):
            raise ValueError(
                f'CMPCLoss got {len(img_feats)}/{len(text_feats)} levels for '
                f'{len(self.level_weights)} level weights'
            )
        total = img_feats[0].new_zeros(())
        for w, v, t in zip(self.level_weights, img_feats, text_feats):
            total = total + w * cmpc_loss(v, t, labels, self.classifier_weight)
        return self.loss_weight * total
