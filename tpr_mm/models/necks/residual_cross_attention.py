# Copyright (c) tpr_mm contributors. All rights reserved.
"""Pre-LN residual block: self-attention, cross-attention to all tokens, MLP (CFine's MGF block).

Source: shuanglinyan/CFine:models/layers.py (``ResidualCrossAttentionBlock``,
``ResidualAttention``).
"""

from collections import OrderedDict
from typing import Optional

import torch
import torch.nn as nn

__all__ = ['QuickGELU', 'ResidualCrossAttentionBlock']


class QuickGELU(nn.Module):
    """``x * sigmoid(1.702 x)``, the GELU approximation of OpenAI CLIP."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(1.702 * x)


class ResidualCrossAttentionBlock(nn.Module):
    """``x += SelfAttn(LN0 x); x += CrossAttn(LN1 x, memory); x += MLP(LN2 x)``.

    The memory (keys/values of the cross-attention) enters without a
    LayerNorm: it is a backbone's final, already normalised token sequence.

    Args:
        embed_dims (int): Token width D.
        num_heads (int): Attention heads (D divisible by it).
        mlp_ratio (float): Hidden width of the MLP over D. Defaults to 4.
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float = 4.0) -> None:
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by num_heads={num_heads}')
        hidden = int(embed_dims * mlp_ratio)
        self.ln_0 = nn.LayerNorm(embed_dims)
        self.self_attn = nn.MultiheadAttention(embed_dims, num_heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(embed_dims)
        self.cross_attn = nn.MultiheadAttention(embed_dims, num_heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(embed_dims)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ('c_fc', nn.Linear(embed_dims, hidden)),
                    ('gelu', QuickGELU()),
                    ('c_proj', nn.Linear(hidden, embed_dims)),
                ]
            )
        )

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        self_attn_mask: Optional[torch.Tensor] = None,
        query_padding_mask: Optional[torch.Tensor] = None,
        memory_padding_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Refine queries ``x`` with ``memory``.

        Args:
            x (Tensor): (B, Q, D) query tokens.
            memory (Tensor): (B, L, D) all tokens of the modality.
            self_attn_mask (Tensor, optional): (Q, Q) bool, True = blocked.
            query_padding_mask (Tensor, optional): (B, Q) bool, True = this
                query slot is padding and is not attended to.
            memory_padding_mask (Tensor, optional): (B, L) bool, True = padding.

        Returns:
            Tensor: (B, Q, D).
        """
        y = self.ln_0(x)
        x = (
            x
            + self.self_attn(
                y,
                y,
                y,
                attn_mask=self_attn_mask,
                key_padding_mask=query_padding_mask,
                need_weights=False,
            )[0]
        )
        x = (
            x
            + self.cross_attn(
                self.ln_1(x),
                memory,
                memory,
                key_padding_mask=memory_padding_mask,
                need_weights=False,
            )[0]
        )
        return x + self.mlp(self.ln_2(x))
