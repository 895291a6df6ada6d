# Copyright (c) tpr_mm contributors. All rights reserved.
"""Fine-grained correspondence discovery (FCD) score of CFine (training only).

Source: shuanglinyan/CFine:models/model.py (``Model.forward``, "Correspondence Discovery").
"""

from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from tpr_mm.registry import MODELS

__all__ = ['matched_partners', 'fine_grained_scores', 'FCDHead']


def _topk_mean(values: torch.Tensor, scores: torch.Tensor, k: int, dim: int) -> Tuple:
    """Mean of ``values`` rows at the top-k finite ``scores`` along ``dim``.

    Args:
        values (Tensor): (N, M, D) candidates (indexed along axis 1).
        scores (Tensor): (N, R, M) if dim == 2 or (N, M, R) if dim == 1; -inf = unusable.
        k (int): Partners per query.
        dim (int): Candidate axis of ``scores``.

    Returns:
        tuple: (N, R, D) means and (N, R) bool, whether any partner was usable.
    """
    k = min(k, scores.shape[dim])
    top, idx = scores.topk(k, dim=dim)
    if dim == 1:  # (N, k, R) -> (N, R, k)
        top, idx = top.transpose(1, 2), idx.transpose(1, 2)
    ok = torch.isfinite(top).to(values.dtype)  # (N, R, k)
    picked = torch.gather(
        values.unsqueeze(1).expand(-1, idx.shape[1], -1, -1),
        2,
        idx.unsqueeze(-1).expand(-1, -1, -1, values.shape[-1]),
    )
    count = ok.sum(-1, keepdim=True)
    mean = (picked * ok.unsqueeze(-1)).sum(2) / count.clamp(min=1)
    return mean, count.squeeze(-1) > 0


def matched_partners(
    patches: torch.Tensor,
    words: torch.Tensor,
    patch_mask: Optional[torch.Tensor] = None,
    word_mask: Optional[torch.Tensor] = None,
    k_word: int = 3,
    k_patch: int = 3,
) -> Tuple[torch.Tensor, ...]:
    """Within each matched pair, the mean of the k best partners of every token.

    ``C = softmax_words(p̂ ŵᵀ)`` (cosine, row-softmax over valid words, no
    temperature). Patch p gets ``ω[p] = normalise(mean of its top-k_word
    words by C[p, :])``; word w gets ``π[w] = normalise(mean of its top-k_patch
    patches by C[:, w])``. Partners are averaged from the raw tokens.

    Args:
        patches (Tensor): (N, Kv, D) group-1 patch tokens of image i.
        words (Tensor): (N, Kt, D) group-1 word tokens of its paired text.
        patch_mask, word_mask (Tensor, optional): (N, Kv) / (N, Kt) bool validity.
        k_word, k_patch (int): Partners per patch / per word.

    Returns:
        tuple: ``omega`` (N, Kv, D), ``omega_ok`` (N, Kv), ``pi`` (N, Kt, D),
        ``pi_ok`` (N, Kt) — ``*_ok`` is False where the token is invalid or has
        no valid partner.
    """
    n, kv, kt = patches.shape[0], patches.shape[1], words.shape[1]
    if patch_mask is None:
        patch_mask = patches.new_ones(n, kv, dtype=torch.bool)
    if word_mask is None:
        word_mask = words.new_ones(n, kt, dtype=torch.bool)
    cos = F.normalize(patches, dim=-1) @ F.normalize(words, dim=-1).transpose(1, 2)
    cos = cos.masked_fill(~word_mask.unsqueeze(1), float('-inf'))
    c = torch.nan_to_num(cos.softmax(dim=2), nan=0.0)
    by_word = c.masked_fill(~word_mask.unsqueeze(1), float('-inf'))
    by_patch = c.masked_fill(~patch_mask.unsqueeze(2) | ~word_mask.unsqueeze(1), float('-inf'))
    omega, omega_ok = _topk_mean(words, by_word, k_word, dim=2)
    pi, pi_ok = _topk_mean(patches, by_patch, k_patch, dim=1)
    return (
        F.normalize(omega, dim=-1),
        omega_ok & patch_mask,
        F.normalize(pi, dim=-1),
        pi_ok & word_mask,
    )


def _masked_position_mean(
    a: torch.Tensor, a_ok: torch.Tensor, b: torch.Tensor, b_ok: torch.Tensor
) -> torch.Tensor:
    """``mean_{k: a_ok[i,k] & b_ok[j,k]} <a_ik, b_jk>`` for all (i, j); 0 if no k."""
    wa, wb = a_ok.to(a.dtype), b_ok.to(b.dtype)
    num = torch.einsum('ikd,jkd->ij', a * wa.unsqueeze(-1), b * wb.unsqueeze(-1))
    return num / (wa @ wb.t()).clamp(min=1)


def fine_grained_scores(
    patches: torch.Tensor,
    words: torch.Tensor,
    patch_mask: Optional[torch.Tensor] = None,
    word_mask: Optional[torch.Tensor] = None,
    temperature: float = 0.01,
    k_word: int = 3,
    k_patch: int = 3,
) -> torch.Tensor:
    """FCD scores of every image/text pair of a batch.

    Partners come from the matched pairs (:func:`matched_partners`); the
    cross-pair scores are position-indexed: ``s^pw_ij = mean_p <p̂_i[p],
    ω_j[p]> / τ`` (p-th ranked patch of image i vs the words matched to the
    p-th patch of pair j) and ``s^wp_ij = mean_w <π_i[w], ŵ_j[w]> / τ``; the
    score is their mean. Means run over positions valid on both sides.

    Args:
        patches (Tensor): (N, Kv, D) group-1 patch tokens, rank order.
        words (Tensor): (N, Kt, D) group-1 word tokens, rank order.
        patch_mask, word_mask (Tensor, optional): validity of the slots.
        temperature (float): τ_f. Defaults to 0.01.
        k_word, k_patch (int): Partners per patch / word. Default 3.

    Returns:
        Tensor: (N, N) scores S^cd, rows images, columns texts.
    """
    if patches.shape[0] != words.shape[0]:
        raise ValueError(
            f'FCD needs paired batches: {patches.shape[0]} images vs {words.shape[0]} texts'
        )
    n, kv, kt = patches.shape[0], patches.shape[1], words.shape[1]
    p_mask = patch_mask if patch_mask is not None else patches.new_ones(n, kv, dtype=torch.bool)
    w_mask = word_mask if word_mask is not None else words.new_ones(n, kt, dtype=torch.bool)
    omega, omega_ok, pi, pi_ok = matched_partners(patches, words, p_mask, w_mask, k_word, k_patch)
    pw = _masked_position_mean(F.normalize(patches, dim=-1), p_mask, omega, omega_ok)
    wp = _masked_position_mean(pi, pi_ok, F.normalize(words, dim=-1), w_mask)
    return (pw + wp) / (2 * temperature)


@MODELS.register_module()
class FCDHead(nn.Module):
    """Parameter-free FCD scorer: :func:`fine_grained_scores` on the first MGF group.

    Consumes the per-modality dicts of :class:`~tpr_mm.models.necks.MGFNeck`
    (``selected``, ``selected_mask``, ``group_size``). Built only inside the
    training head.

    Args:
        temperature (float): τ_f. Defaults to 0.01 (CFine ``scale_cd``).
        k_word (int): Words per patch. Defaults to 3.
        k_patch (int): Patches per word. Defaults to 3.
    """

    def __init__(self, temperature: float = 0.01, k_word: int = 3, k_patch: int = 3) -> None:
        super().__init__()
        self.temperature = temperature
        self.k_word = k_word
        self.k_patch = k_patch

    def forward(self, img: dict, text: dict) -> torch.Tensor:
        """Returns (N, N) scores, rows images, columns texts."""
        kv, kt = img['group_size'], text['group_size']
        img_mask, text_mask = img.get('selected_mask'), text.get('selected_mask')
        return fine_grained_scores(
            img['selected'][:, :kv],
            text['selected'][:, :kt],
            img_mask[:, :kv] if img_mask is not None else None,
            text_mask[:, :kt] if text_mask is not None else None,
            self.temperature,
            self.k_word,
            self.k_patch,
        )
