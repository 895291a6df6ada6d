# Copyright (c) tpr_mm contributors. All rights reserved.
"""Multi-head attentional fusion (MHAF) of a sample with a set of context features."""

from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tpr_mm.registry import MODELS


@MODELS.register_module()
class MultiHeadAttentionalFusion(BaseModule):
    """Fuse a query feature with context features by one attention block.

    Pre-norm (default): ``x = q + MHA(LN1(q), LN1(C), LN1(C))``;
    ``out = x + FFN(LN2(x))``. Post-norm: ``x = LN1(q + MHA(q, C, C))``;
    ``out = LN2(x + FFN(x))``. ``q`` is the anchor feature and ``C`` the
    context. Either form is exactly a Transformer encoder layer evaluated at
    the query's slot only, so the same block serves LCR²S's teacher (context
    = the anchor and its support set) and the student's reasoning layer
    (context = its own tokens; see :class:`TokenReasoningLayer`). Pre-norm
    keeps the backbone feature as the residual stream, so a CLIP-initialised
    model starts from CLIP's embedding space.

    Args:
        embed_dims (int): Feature size D.
        num_heads (int): Attention heads; must divide D. Defaults to 8.
        ffn_ratio (float): FFN hidden size / D. Defaults to 4.0.
        dropout (float): Dropout of attention weights and the residual
            branches. Defaults to 0.0.
        include_query (bool): Prepend the query to the context, so K = 0
            (no context) is allowed and the output always sees the anchor.
            Defaults to True.
        norm_first (bool): Pre-norm (True, default) or post-norm block.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int = 8,
        ffn_ratio: float = 4.0,
        dropout: float = 0.0,
        include_query: bool = True,
        norm_first: bool = True,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by num_heads={num_heads}')
        self.embed_dims = embed_dims
        self.include_query = include_query
        self.norm_first = norm_first
        self.attn = nn.MultiheadAttention(embed_dims, num_heads, dropout=dropout, batch_first=True)
        hidden = int(embed_dims * ffn_ratio)
        self.ffn = nn.Sequential(
            nn.Linear(embed_dims, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, embed_dims),
        )
        self.norm1 = nn.LayerNorm(embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.drop = nn.Dropout(dropout)

    def forward(
        self,
        query: torch.Tensor,
        context: Optional[torch.Tensor] = None,
        context_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Fuse.

        Args:
            query (Tensor): (B, D) anchor features.
            context (Tensor, optional): (B, K, D) context features, K >= 0.
            context_mask (Tensor, optional): (B, K) bool, True = valid entry.
                Defaults to all valid.

        Returns:
            Tensor: (B, D) fused features.
        """
        if query.ndim != 2 or query.shape[-1] != self.embed_dims:
            raise ValueError(f'query must be (B, {self.embed_dims}), got {tuple(query.shape)}')
        b = query.shape[0]
        if context is None:
            context = query.new_zeros(b, 0, self.embed_dims)
        if context.ndim != 3 or context.shape[0] != b or context.shape[-1] != self.embed_dims:
            raise ValueError(
                f'context must be ({b}, K, {self.embed_dims}), got {tuple(context.shape)}'
            )
        valid = context_mask
        if valid is None:
            valid = torch.ones(context.shape[:2], dtype=torch.bool, device=query.device)
        elif valid.shape != context.shape[:2]:
            raise ValueError(
                f'context_mask must be {tuple(context.shape[:2])}, got {tuple(valid.shape)}'
            )
        q = query.unsqueeze(1)
        if self.include_query:
            context = torch.cat([q, context], dim=1)
            valid = torch.cat([valid.new_ones(b, 1), valid], dim=1)
        if context.shape[1] == 0:
            raise ValueError('empty context with include_query=False')
        if not bool(valid.any(dim=1).all()):
            raise ValueError('every row needs at least one valid context entry')
        if not self.norm_first:
            out, _ = self.attn(q, context, context, key_padding_mask=~valid, need_weights=False)
            x = self.norm1(query + self.drop(out.squeeze(1)))
            return self.norm2(x + self.drop(self.ffn(x)))
        qn, ctx = self.norm1(q), self.norm1(context)
        out, _ = self.attn(qn, ctx, ctx, key_padding_mask=~valid, need_weights=False)
        x = query + self.drop(out.squeeze(1))
        return x + self.drop(self.ffn(self.norm2(x)))
