# Copyright (c) tpr_mm contributors. All rights reserved.
"""Masked language modelling loss (IRRA's implicit relation reasoning)."""

import torch
import torch.nn.functional as F

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss


def mlm_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_index: int = 0) -> torch.Tensor:
    """Cross-entropy over the vocabulary, averaged over the labelled positions.

    Re-states ``compute_mlm`` of ``anosorae/IRRA:model/objectives.py``
    (``CrossEntropyLoss(ignore_index=0)``): label 0 marks an unmasked position.

    Args:
        logits (Tensor): (N, V) scores of N token positions.
        labels (Tensor): (N,) original token ids; ``ignore_index`` is skipped.
        ignore_index (int): Label ignored. Defaults to 0.

    Returns:
        Tensor: scalar loss; 0 (with a graph) when no position is labelled.
    """
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise ValueError(
            f'mlm_loss expects (N, V) logits and (N,) labels, got {tuple(logits.shape)} '
            f'and {tuple(labels.shape)}'
        )
    if not (labels != ignore_index).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.float(), labels, ignore_index=ignore_index)


@MODELS.register_module()
class MLMLoss(BaseLoss):
    """Weighted :func:`mlm_loss`.

    Args:
        loss_weight (float): Defaults to 1.0 (IRRA's ``mlm_loss_weight``).
        ignore_index (int): Defaults to 0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_mlm'``.
    """

    needs = frozenset({'logits', 'labels'})

    def __init__(
        self, loss_weight: float = 1.0, ignore_index: int = 0, loss_name: str = 'loss_mlm'
    ) -> None:
        super().__init__(loss_weight, loss_name)
        self.ignore_index = ignore_index

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * mlm_loss(logits, labels, self.ignore_index)
