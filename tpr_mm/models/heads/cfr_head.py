# Copyright (c) tpr_mm contributors. All rights reserved.
"""Cross-grained feature refinement (CFR) score of CFine (training only).

Source: shuanglinyan/CFine:models/model.py (``Model.forward``, "Cross-Similarity").
"""

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from tpr_mm.registry import MODELS

__all__ = ['softmax_pool', 'cross_grained_scores', 'CFRHead']


def softmax_pool(logits: torch.Tensor, mask: Optional[torch.Tensor], dim: int = -1) -> torch.Tensor:
    """``sum_k softmax_k(z) * z_k`` along ``dim`` over the entries where ``mask`` is True.

    A slice without any valid entry gives 0 (instead of NaN).

    Args:
        logits (Tensor): (..., K, ...) logits z.
        mask (Tensor, optional): bool, broadcastable to ``logits``; None = all valid.
        dim (int): Pooled dimension.

    Returns:
        Tensor: ``logits`` reduced over ``dim``.
    """
    if mask is None:
        return (logits.softmax(dim) * logits).sum(dim)
    mask = mask.expand_as(logits)
    weights = logits.masked_fill(~mask, float('-inf')).softmax(dim)
    weights = torch.nan_to_num(weights, nan=0.0)  # all-masked slices
    return (weights * logits.masked_fill(~mask, 0.0)).sum(dim)


def cross_grained_scores(
    img_global: torch.Tensor,
    img_tokens: torch.Tensor,
    text_global: torch.Tensor,
    text_tokens: torch.Tensor,
    img_mask: Optional[torch.Tensor] = None,
    text_mask: Optional[torch.Tensor] = None,
    temperature: float = 0.07,
) -> torch.Tensor:
    """Global-to-local scores of every image/text pair of a batch.

    With L2-normalised inputs and τ = ``temperature``:
    image-word ``s^iw_ij = softpool_k(<ĝ_i, ŵ_jk> / τ)`` over the selected
    words of text j; patch-sentence ``s^pt_ij = softpool_k(<p̂_ik, t̂_j> / τ)``
    over the selected patches of image i; the score is their mean.

    Args:
        img_global (Tensor): (Ni, D) image global tokens (before any neck).
        img_tokens (Tensor): (Ni, Kv, D) selected patch tokens.
        text_global (Tensor): (Nt, D) text global tokens.
        text_tokens (Tensor): (Nt, Kt, D) selected word tokens.
        img_mask (Tensor, optional): (Ni, Kv) bool, valid patch slots.
        text_mask (Tensor, optional): (Nt, Kt) bool, valid word slots.
        temperature (float): τ_c. Defaults to 0.07.

    Returns:
        Tensor: (Ni, Nt) scores S^cs (rows images, columns texts).
    """
    g_i = F.normalize(img_global, dim=-1)
    p_i = F.normalize(img_tokens, dim=-1)
    g_t = F.normalize(text_global, dim=-1)
    w_t = F.normalize(text_tokens, dim=-1)
    iw = torch.einsum('id,jkd->ijk', g_i, w_t) / temperature
    pt = torch.einsum('ikd,jd->ijk', p_i, g_t) / temperature
    iw_mask = text_mask.unsqueeze(0) if text_mask is not None else None
    pt_mask = img_mask.unsqueeze(1) if img_mask is not None else None
    return (softmax_pool(iw, iw_mask) + softmax_pool(pt, pt_mask)) / 2


@MODELS.register_module()
class CFRHead(nn.Module):
    """Parameter-free CFR scorer: :func:`cross_grained_scores` on MGF outputs.

    Consumes the per-modality dicts of :class:`~tpr_mm.models.necks.MGFNeck`
    (``global_token``, ``selected`` = all 2K selected tokens,
    ``selected_mask``). Built only inside the training head.

    Args:
        temperature (float): τ_c. Defaults to 0.07 (CFine ``scale_cs``).
    """

    def __init__(self, temperature: float = 0.07) -> None:
        super().__init__()
        self.temperature = temperature

    def forward(self, img: dict, text: dict) -> torch.Tensor:
        """Returns (N, N) scores, rows images, columns texts."""
        return cross_grained_scores(
            img['global_token'],
            img['selected'],
            text['global_token'],
            text['selected'],
            img.get('selected_mask'),
            text.get('selected_mask'),
            self.temperature,
        )
