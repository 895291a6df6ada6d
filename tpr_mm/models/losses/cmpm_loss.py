# Copyright (c) tpr_mm contributors. All rights reserved.
"""Cross-modal projection matching (CMPM) loss (Zhang & Lu, ECCV 2018), as used by CFine.

Source: shuanglinyan/CFine:utils/metric.py (``Loss.compute_cmpm_loss``); also ``compute_cmpm`` in
anosorae/IRRA:model/objectives.py.
"""

from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss

__all__ = ['cmpm_loss', 'CMPMLoss']


def cmpm_loss(
    img_feats: torch.Tensor, text_feats: torch.Tensor, labels: torch.Tensor, eps: float = 1e-8
) -> torch.Tensor:
    """KL divergence between projection-matching and true-match distributions.

    The logit of (image i, text j) is the scalar projection of the raw image
    feature onto the text direction, ``<v_i, t_j / |t_j|>`` (no temperature:
    the feature norm sets the sharpness). The target is ``q_ij = y_ij /
    |y_i|_2`` with ``y_ij = [label_i == label_j]`` — the L2 (not L1)
    normalisation of the original CMPM code. The loss is the row-mean of
    ``sum_j p_ij (log p_ij - log(q_ij + eps))`` for image->text plus the same
    for text->image.

    Args:
        img_feats (Tensor): (N, D) image features (not normalised).
        text_feats (Tensor): (N, D) features of the paired captions.
        labels (Tensor): (N,) identity labels.
        eps (float): Added to q before the log. Defaults to 1e-8.

    Returns:
        Tensor: scalar loss.
    """
    labels = labels.view(-1, 1)
    match = (labels == labels.t()).to(img_feats.dtype)
    q = match / match.norm(dim=1, keepdim=True)
    log_q = torch.log(q + eps)
    img_dir = F.normalize(img_feats, dim=1)
    txt_dir = F.normalize(text_feats, dim=1)
    loss = img_feats.new_zeros(())
    for logits in (img_feats @ txt_dir.t(), text_feats @ img_dir.t()):
        log_p = F.log_softmax(logits, dim=1)
        loss = loss + (log_p.exp() * (log_p - log_q)).sum(dim=1).mean()
    return loss


@MODELS.register_module()
class CMPMLoss(BaseLoss):
    """:func:`cmpm_loss` summed over feature levels with per-level weights.

    CFine applies CMPM to its global feature and each group feature with
    weights ``(1, 1, 0.1)``. When fewer levels are given (MGF switched off)
    the leading weights are used.

    Args:
        level_weights (Sequence[float]): Weight of level k. Defaults to
            ``(1.0, 1.0, 0.1)``.
        eps (float): See :func:`cmpm_loss`.
        loss_weight (float): Global multiplier. Defaults to 1.0.
        loss_name (str): Defaults to ``'loss_cmpm'``.
    """

    def __init__(
        self,
        level_weights: Sequence[float] = (1.0, 1.0, 0.1),
        eps: float = 1e-8,
        loss_weight: float = 1.0,
        loss_name: str = 'loss_cmpm',
    ) -> None:
        super().__init__(loss_weight, loss_name)
        self.level_weights = tuple(float(w) for w in level_weights)
        self.eps = eps

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
        if len(img_feats) != len(text_feats):
            raise ValueError(f'{len(img_feats)} image levels vs {len(text_feats)} text levels')
        if len(img_feats) > len(self.level_weights):
            raise ValueError(
                f'CMPMLoss has {len(self.level_weights)} level weights but got '
                f'{len(img_feats)} feature levels'
            )
        total = img_feats[0].new_zeros(())
        for w, v, t in zip(self.level_weights, img_feats, text_feats):
            total = total + w * cmpm_loss(v, t, labels, self.eps)
        return self.loss_weight * total
