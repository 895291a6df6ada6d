# Copyright (c) tpr_mm contributors. All rights reserved.
"""Similarity distribution matching (SDM) loss (IRRA, CVPR 2023).

Source: anosorae/IRRA:model/objectives.py (``compute_sdm``).
"""

import torch
import torch.nn.functional as F

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss


def sdm_loss(
    img_feats: torch.Tensor,
    text_feats: torch.Tensor,
    labels: torch.Tensor,
    temperature: float = 0.02,
    eps: float = 1e-8,
) -> torch.Tensor:
    """KL divergence between in-batch similarity and true-match distributions.

    For image i, p_i = softmax_j(cos(v_i, t_j) / τ) and q_i = y_ij / Σ_k y_ik
    with y_ij = [label_i == label_j]; the loss is the mean over rows of
    KL(p_i ‖ q_i), summed over the image→text and text→image directions.

    Args:
        img_feats (Tensor): (N, D) image embeddings (normalised inside).
        text_feats (Tensor): (N, D) text embeddings of the paired captions.
        labels (Tensor): (N,) identity (or pseudo-identity) labels.
        temperature (float): τ. Defaults to 0.02 (IRRA's fixed value).
        eps (float): Added to q before the log. Defaults to 1e-8.

    Returns:
        Tensor: scalar loss.
    """
    img = F.normalize(img_feats, dim=-1)
    txt = F.normalize(text_feats, dim=-1)
    labels = labels.view(-1, 1)
    match = (labels == labels.t()).to(img.dtype)
    q = match / match.sum(dim=1, keepdim=True)
    sim = img @ txt.t() / temperature
    loss = 0.0
    for logits in (sim, sim.t()):
        log_p = F.log_softmax(logits, dim=1)
        kl = log_p.exp() * (log_p - torch.log(q + eps))
        loss = loss + kl.sum(dim=1).mean()
    return loss


@MODELS.register_module()
class SDMLoss(BaseLoss):
    """Weighted :func:`sdm_loss`.

    Args:
        temperature (float): τ. Defaults to 0.02.
        loss_weight (float): Defaults to 1.0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_sdm'``.
    """

    def __init__(
        self, temperature: float = 0.02, loss_weight: float = 1.0, loss_name: str = 'loss_sdm'
    ) -> None:
        super().__init__(loss_weight, loss_name)
        self.temperature = temperature

    def forward(
        self, img_feats: torch.Tensor, text_feats: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        return self.loss_weight * sdm_loss(img_feats, text_feats, labels, self.temperature)
