# Copyright (c) tpr_mm contributors. All rights reserved.
"""Identity classification loss with a classifier shared by both modalities.

Source: anosorae/IRRA:model/objectives.py (``compute_id``).
"""

import torch
import torch.nn as nn
import torch.nn.functional as F

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss


def id_loss(
    img_logits: torch.Tensor, text_logits: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Mean of the image and text cross-entropies over identity classes.

    Args:
        img_logits (Tensor): (N, C) classifier logits of image features.
        text_logits (Tensor): (N, C) classifier logits of text features.
        labels (Tensor): (N,) identity labels in [0, C).

    Returns:
        Tensor: scalar loss.
    """
    return (F.cross_entropy(img_logits, labels) + F.cross_entropy(text_logits, labels)) / 2


@MODELS.register_module()
class IDLoss(BaseLoss):
    """Shared linear identity classifier + :func:`id_loss` (IRRA's ID loss).

    The classifier sees the un-normalised global features; its weights are
    initialised N(0, 0.001²) with zero bias. Parameters whose name contains
    ``classifier`` get their own learning rate in the schedule configs.

    Args:
        in_channels (int): Embedding dimension D.
        num_classes (int): Number of training identities C.
        loss_weight (float): Defaults to 1.0.
        loss_name (str): Defaults to ``'loss_id'``.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        loss_weight: float = 1.0,
        loss_name: str = 'loss_id',
    ) -> None:
        super().__init__(loss_weight, loss_name)
        self.classifier = nn.Linear(in_channels, num_classes)
        nn.init.normal_(self.classifier.weight, std=0.001)
        nn.init.zeros_(self.classifier.bias)

    def forward(
        self, img_feats: torch.Tensor, text_feats: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        if labels.min() < 0 or labels.max() >= self.classifier.out_features:
            raise ValueError(
                f'IDLoss got labels outside [0, {self.classifier.out_features}); '
                'num_classes must equal the number of training identities and the '
                'dataset must carry identity labels'
            )
        logits_i = self.classifier(img_feats.float())
        logits_t = self.classifier(text_feats.float())
        return self.loss_weight * id_loss(logits_i, logits_t, labels)
