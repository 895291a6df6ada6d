# Copyright (c) tpr_mm contributors. All rights reserved.
"""Triplet alignment loss (TAL) of RDE (Qin et al., CVPR 2024)."""

from typing import Optional

import torch

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss

# RDE clamps the negative sum at 10e35 (= 1e36) before the log so it stays finite.
_MAX_NEG_SUM = 1e36


def _anchor_losses(scores: torch.Tensor, positive: torch.Tensor, tau: float, margin: float):
    """Per-row hinge [m - Σ_P α s + τ log Σ_N exp(s / τ)]_+ of a (N, N) score matrix."""
    exp = (scores / tau).exp()
    weights = exp * positive
    # α: softmax of s/τ over the row's positives, a constant (no gradient) in RDE.
    alpha = (weights / weights.sum(dim=1, keepdim=True)).detach()
    pos = (alpha * scores).sum(dim=1)
    # A row without negatives sums to 0: RDE's log(0) = -inf gives a zero loss but a NaN
    # gradient; the floor keeps the (zero) loss and a zero gradient. Real negatives never
    # underflow to it (exp(-1/tau) > tiny for tau >= 0.012 in float32).
    neg_sum = (exp * (1.0 - positive)).sum(dim=1)
    floor = torch.finfo(neg_sum.dtype).tiny
    neg = tau * neg_sum.clamp(min=floor, max=_MAX_NEG_SUM).log()
    return (margin - pos + neg).clamp(min=0)


def tal_per_sample(
    img_feats: torch.Tensor,
    text_feats: torch.Tensor,
    labels: torch.Tensor,
    tau: float = 0.015,
    margin: float = 0.1,
) -> torch.Tensor:
    """TAL of every pair, both directions, as ``compute_TAL_per`` of
    ``QinYang79/RDE:2024-CVPR-RDE/model/objectives.py``.

    With s = cos(t_i, v_j) (rows: captions) and P_i the in-batch items sharing
    label i, the loss of pair i is

    [m − Σ_{j∈P_i} α_ij s_ij + τ log Σ_{k∉P_i} exp(s_ik/τ)]₊ + the same on sᵀ,

    α_ij = softmax over j ∈ P_i of s_ij/τ (detached). The log-sum-exp over
    negatives is a smooth hardest negative; a row without negatives gives a
    zero loss, as in RDE (there via log 0 = −inf, with a NaN gradient; here
    with a zero gradient).

    Args:
        img_feats (Tensor): (N, D) image embeddings (normalised inside).
        text_feats (Tensor): (N, D) embeddings of the paired captions.
        labels (Tensor): (N,) identity labels.
        tau (float): τ. Defaults to 0.015 (RDE).
        margin (float): m. Defaults to 0.1 (RDE).

    Returns:
        Tensor: (N,) per-pair losses.
    """
    if img_feats.shape != text_feats.shape or img_feats.dim() != 2:
        raise ValueError(
            f'img_feats {tuple(img_feats.shape)} and text_feats {tuple(text_feats.shape)} '
            'must be equal (N, D) shapes'
        )
    img = img_feats / img_feats.norm(dim=-1, keepdim=True)
    txt = text_feats / text_feats.norm(dim=-1, keepdim=True)
    scores = txt @ img.t()
    labels = labels.view(-1, 1)
    positive = (labels == labels.t()).to(scores.dtype)
    return _anchor_losses(scores, positive, tau, margin) + _anchor_losses(
        scores.t(), positive, tau, margin
    )


@MODELS.register_module()
class TALLoss(BaseLoss):
    """Weighted, clean-mask-weighted :func:`tal_per_sample`.

    RDE weights each pair's loss by its clean/noisy label (1 = clean, 0 =
    noisy) and **sums** over the batch (``compute_rbs`` in
    ``QinYang79/RDE:2024-CVPR-RDE/model/objectives.py``).

    Args:
        tau (float): τ. Defaults to 0.015.
        margin (float): Defaults to 0.1.
        reduction (str): ``'sum'`` (RDE) or ``'mean'`` (divide by the weight
            sum, RDE's rule for its non-triplet losses).
        loss_weight (float): Defaults to 1.0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_tal'``.
    """

    needs = frozenset({'img_feats', 'text_feats', 'labels', 'weights'})

    def __init__(
        self,
        tau: float = 0.015,
        margin: float = 0.1,
        reduction: str = 'sum',
        loss_weight: float = 1.0,
        loss_name: str = 'loss_tal',
    ) -> None:
        super().__init__(loss_weight, loss_name)
        if reduction not in ('sum', 'mean'):
            raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
        if tau <= 0:
            raise ValueError(f'tau must be > 0, got {tau}')
        self.tau = tau
        self.margin = margin
        self.reduction = reduction

    def per_sample(
        self, img_feats: torch.Tensor, text_feats: torch.Tensor, labels: torch.Tensor
    ) -> torch.Tensor:
        """(N,) unweighted per-pair losses (what the clean/noisy division fits)."""
        return tal_per_sample(img_feats, text_feats, labels, self.tau, self.margin)

    def forward(
        self,
        img_feats: torch.Tensor,
        text_feats: torch.Tensor,
        labels: torch.Tensor,
        weights: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        per = self.per_sample(img_feats, text_feats, labels)
        if weights is None:
            weights = torch.ones_like(per)
        weights = weights.to(per.dtype)
        loss = (weights * per).sum()
        if self.reduction == 'mean':
            loss = loss / weights.sum()
        return self.loss_weight * loss
