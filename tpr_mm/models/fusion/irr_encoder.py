# Copyright (c) tpr_mm contributors. All rights reserved.
"""IRRA's cross-modal encoder: caption tokens attend to image tokens (training only)."""

from collections import OrderedDict
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tpr_mm.models.necks.residual_cross_attention import QuickGELU
from tpr_mm.registry import MODELS

__all__ = ['IRRResidualBlock', 'IRREncoder']


class IRRResidualBlock(nn.Module):
    """Pre-LN self-attention block of OpenAI CLIP: ``x += Attn(LN1 x); x += MLP(LN2 x)``.

    Submodule names follow CLIP's ``ResidualAttentionBlock`` (``attn``,
    ``ln_1``, ``mlp.c_fc``, ``mlp.c_proj``, ``ln_2``); no attention mask.

    Args:
        width (int): Token width D.
        num_heads (int): Attention heads.
        mlp_ratio (int): MLP hidden width over D. Defaults to 4.
    """

    def __init__(self, width: int, num_heads: int, mlp_ratio: int = 4) -> None:
        super().__init__()
        # Creation order as CLIP's block, so a seeded build draws the same numbers.
        self.attn = nn.MultiheadAttention(width, num_heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ('c_fc', nn.Linear(width, width * mlp_ratio)),
                    ('gelu', QuickGELU()),
                    ('c_proj', nn.Linear(width * mlp_ratio, width)),
                ]
            )
        )
        self.ln_2 = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, L, D) -> (B, L, D)."""
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


@MODELS.register_module()
class IRREncoder(BaseModule):
    """Implicit relation reasoning encoder of IRRA (Jiang & Ye, CVPR 2023).

    ``x = CrossAttn(LN_t(text), LN_i(image), LN_i(image))`` (queries: every
    caption token; keys/values: every image token, class token included, no
    mask), then ``num_layers`` CLIP residual blocks over the caption tokens
    (no mask, padding included) and a final LayerNorm. Re-states
    ``IRRA.cross_former`` and the ``cross_attn`` / ``cross_modal_transformer``
    / ``ln_pre_t`` / ``ln_pre_i`` / ``ln_post`` modules of
    ``anosorae/IRRA:model/build.py`` with the same submodule names, so the
    optimiser's name rules treat them alike: attention and blocks contain
    ``cross``, the three LayerNorms do not. Initialisation as the reference
    (CLIP's scheme): in-projections N(0, D^-0.5), out-projections and
    ``c_proj`` N(0, D^-0.5 (2L)^-0.5), ``c_fc`` N(0, (2D)^-0.5); all other
    parameters keep PyTorch's defaults.

    Args:
        embed_dims (int): Token width D of both towers' projected tokens.
        num_layers (int): Residual blocks (IRRA's ``cmt_depth``). Defaults to 4.
        num_heads (int, optional): Heads; defaults to ``embed_dims // 64``
            as the reference.
        mlp_ratio (int): Block MLP width over D. Defaults to 4.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        embed_dims: int,
        num_layers: int = 4,
        num_heads: Optional[int] = None,
        mlp_ratio: int = 4,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        heads = num_heads if num_heads is not None else max(1, embed_dims // 64)
        if embed_dims % heads:
            raise ValueError(f'embed_dims={embed_dims} is not divisible by num_heads={heads}')
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        self.embed_dims, self.num_layers, self.num_heads = embed_dims, num_layers, heads
        self.cross_attn = nn.MultiheadAttention(embed_dims, heads, batch_first=True)
        self.cross_modal_transformer = nn.Sequential(
            *[IRRResidualBlock(embed_dims, heads, mlp_ratio) for _ in range(num_layers)]
        )
        self.ln_pre_t = nn.LayerNorm(embed_dims)
        self.ln_pre_i = nn.LayerNorm(embed_dims)
        self.ln_post = nn.LayerNorm(embed_dims)
        self._init_clip_style()

    def _init_clip_style(self) -> None:
        attn_std = self.embed_dims**-0.5
        proj_std = attn_std * (2 * self.num_layers) ** -0.5
        fc_std = (2 * self.embed_dims) ** -0.5
        for block in self.cross_modal_transformer:
            nn.init.normal_(block.attn.in_proj_weight, std=attn_std)
            nn.init.normal_(block.attn.out_proj.weight, std=proj_std)
            nn.init.normal_(block.mlp.c_fc.weight, std=fc_std)
            nn.init.normal_(block.mlp.c_proj.weight, std=proj_std)
        nn.init.normal_(self.cross_attn.in_proj_weight, std=attn_std)
        nn.init.normal_(self.cross_attn.out_proj.weight, std=proj_std)

    def forward(self, text_tokens: torch.Tensor, image_tokens: torch.Tensor) -> torch.Tensor:
        """Fuse caption tokens with image tokens.

        Args:
            text_tokens (Tensor): (B, T, D) projected caption tokens.
            image_tokens (Tensor): (B, L, D) projected image tokens.

        Returns:
            Tensor: (B, T, D) fused caption tokens.
        """
        if text_tokens.shape[-1] != self.embed_dims or image_tokens.shape[-1] != self.embed_dims:
            raise ValueError(
                f'IRREncoder(embed_dims={self.embed_dims}) got text tokens '
                f'{tuple(text_tokens.shape)} and image tokens {tuple(image_tokens.shape)}'
            )
        kv = self.ln_pre_i(image_tokens)
        x = self.cross_attn(self.ln_pre_t(text_tokens), kv, kv, need_weights=False)[0]
        x = self.cross_modal_transformer(x)
        return self.ln_post(x)
