# Copyright (c) tpr_mm contributors. All rights reserved.
"""Multi-grained global feature (MGF) learning of CFine.

Source: shuanglinyan/CFine:models/model.py (``Model.forward``, token selection and refinement).
"""

import math
from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tpr_mm.registry import MODELS

from .residual_cross_attention import ResidualCrossAttentionBlock
from .token_selection import gather_tokens, select_informative_tokens

__all__ = ['MGFNeck']


def _bn_neck(dims: int) -> nn.BatchNorm1d:
    bn = nn.BatchNorm1d(dims)
    nn.init.ones_(bn.weight)
    nn.init.zeros_(bn.bias)
    bn.bias.requires_grad_(False)  # BNNeck: shift-free
    return bn


@MODELS.register_module()
class MGFNeck(BaseModule):
    """Attention-ranked token groups refined into multi-grained global features.

    Per modality: rank the candidate tokens by the global token's last-layer
    attention, take ``num_groups`` consecutive groups of ``K = floor(ratio *
    L)`` tokens (L = all tokens of the sequence), prepend the global token to
    each group and refine it with ONE :class:`ResidualCrossAttentionBlock`
    (self-attention inside the group, cross-attention to every token of the
    modality). The block is shared by all groups and both modalities; the
    groups run in one call (block-diagonal self-attention). Each modality has
    one BNNeck shared by its features.

    Args:
        embed_dims (int): Token width D (same for both modalities).
        num_heads (int): Heads of the block (12 at D=768 in CFine).
        img_k_ratio (float): K_v / L_v. Defaults to 0.1.
        text_k_ratio (float): K_t / L_t. Defaults to 0.2.
        num_groups (int): Token groups. Defaults to 2.
        mlp_ratio (float): Block MLP width ratio. Defaults to 4.
        refine (bool): False switches MGF off: no block is built and the
            features are the BN'd global token only; tokens are still
            selected for the training scores (CFR/FCD).
        mask_invalid_tokens (bool): True (default) marks selected slots that
            are not candidates (padding of short captions) invalid, so the
            block and the scores ignore them. False reproduces the reference
            code, which uses whatever token fills the slot.
        init_cfg (dict, optional): Initialisation config.

    Shapes: ``forward`` takes ``tokens`` (B, L, D) and returns a dict with
    ``feats`` (list of 1 + G tensors (B, D): BN(global), BN(group g)),
    ``global_token`` (B, D) and ``selected`` (B, G*K, D) before the block,
    ``selected_mask`` (B, G*K) bool and ``group_size`` K.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int,
        img_k_ratio: float = 0.1,
        text_k_ratio: float = 0.2,
        num_groups: int = 2,
        mlp_ratio: float = 4.0,
        refine: bool = True,
        mask_invalid_tokens: bool = True,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_groups < 1:
            raise ValueError(f'num_groups must be >= 1, got {num_groups}')
        for name, ratio in (('img_k_ratio', img_k_ratio), ('text_k_ratio', text_k_ratio)):
            if not 0 < ratio * num_groups < 1:
                raise ValueError(f'{name} * num_groups must lie in (0, 1), got {ratio}')
        self.embed_dims = embed_dims
        self.k_ratio = {'image': float(img_k_ratio), 'text': float(text_k_ratio)}
        self.num_groups = num_groups
        self.refine = refine
        self.mask_invalid_tokens = mask_invalid_tokens
        self.block = (
            ResidualCrossAttentionBlock(embed_dims, num_heads, mlp_ratio) if refine else None
        )
        self.bn_image = _bn_neck(embed_dims)
        self.bn_text = _bn_neck(embed_dims)

    def group_size(self, num_tokens: int, modality: str) -> int:
        """K for a sequence of ``num_tokens`` tokens (global token included)."""
        k = int(math.floor(self.k_ratio[modality] * num_tokens + 1e-9))
        if k < 1 or k * self.num_groups > num_tokens - 1:
            raise ValueError(
                f'{modality} sequence of {num_tokens} tokens gives group size {k} '
                f'for {self.num_groups} groups; change the k ratio'
            )
        return k

    def forward(
        self,
        tokens: torch.Tensor,
        scores: torch.Tensor,
        global_index: torch.Tensor,
        candidate_mask: torch.Tensor,
        key_padding_mask: Optional[torch.Tensor] = None,
        modality: str = 'image',
    ) -> Dict:
        """Multi-grained features of one modality.

        Args:
            tokens (Tensor): (B, L, D) final token features of a backbone.
            scores (Tensor): (B, L) attention of the global token to each token.
            global_index (Tensor): (B,) position of the global token.
            candidate_mask (Tensor): (B, L) bool, tokens that may be selected.
            key_padding_mask (Tensor, optional): (B, L) bool, True = padding
                (ignored by the cross-attention).
            modality (str): ``'image'`` or ``'text'`` (k ratio and BNNeck).

        Returns:
            dict: see the class docstring.
        """
        if modality not in self.k_ratio:
            raise ValueError(f"modality must be 'image' or 'text', got {modality!r}")
        b, num_tokens, dims = tokens.shape
        if dims != self.embed_dims:
            raise ValueError(
                f'MGFNeck(embed_dims={self.embed_dims}) got {modality} tokens of width {dims}'
            )
        k = self.group_size(num_tokens, modality)
        rows = torch.arange(b, device=tokens.device)
        global_token = tokens[rows, global_index]
        index, valid = select_informative_tokens(scores, candidate_mask, k * self.num_groups)
        selected = gather_tokens(tokens, index)
        if not self.mask_invalid_tokens:
            valid = torch.ones_like(valid)
        bn = self.bn_image if modality == 'image' else self.bn_text
        feats = [bn(global_token)]
        if self.refine:
            feats.extend(
                bn(f)
                for f in self._refine(global_token, selected, valid, tokens, key_padding_mask, k)
            )
        return dict(
            feats=feats,
            global_token=global_token,
            selected=selected,
            selected_mask=valid,
            group_size=k,
        )

    def _refine(self, global_token, selected, valid, tokens, key_padding_mask, k):
        b, dims, g = tokens.shape[0], tokens.shape[-1], self.num_groups
        # Sequence [g_1, s_1..s_K, g_1', s_K+1..s_2K, ...]: the global token leads every group.
        groups = selected.view(b, g, k, dims)
        lead = global_token.view(b, 1, 1, dims).expand(b, g, 1, dims)
        x = torch.cat([lead, groups], dim=2).reshape(b, g * (k + 1), dims)
        slot_valid = torch.cat([valid.new_ones(b, g, 1), valid.view(b, g, k)], dim=2)
        group_id = torch.arange(g, device=tokens.device).repeat_interleave(k + 1)
        block_mask = group_id.view(-1, 1) != group_id.view(1, -1)
        out = self.block(
            x,
            tokens,
            self_attn_mask=block_mask,
            query_padding_mask=~slot_valid.reshape(b, -1),
            memory_padding_mask=key_padding_mask,
        )
        return list(out.view(b, g, k + 1, dims)[:, :, 0].unbind(1))
