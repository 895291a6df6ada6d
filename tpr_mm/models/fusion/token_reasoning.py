# Copyright (c) tpr_mm contributors. All rights reserved.
"""One reasoning layer over a tower's own tokens (LCR²S student)."""

from typing import Optional

import torch

from tpr_mm.registry import MODELS

from .attentional_fusion import MultiHeadAttentionalFusion


@MODELS.register_module()
class TokenReasoningLayer(MultiHeadAttentionalFusion):
    """A post-norm Transformer encoder layer over tokens, read at one slot.

    The global token (image [CLS] / text [EOT]) attends to all valid tokens
    of the same input, then goes through the FFN. Only the read slot's
    output is used, so only that slot is computed: the result equals
    ``nn.TransformerEncoderLayer(norm_first=norm_first)`` applied to all
    tokens and indexed at the slot, at a fraction of the cost.

    Args:
        embed_dims (int): Token size D.
        num_heads (int): Attention heads. Defaults to 8.
        ffn_ratio (float): FFN hidden size / D. Defaults to 4.0.
        dropout (float): Dropout. Defaults to 0.0.
        norm_first (bool): Pre-norm (True, default) or post-norm layer.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        embed_dims: int,
        num_heads: int = 8,
        ffn_ratio: float = 4.0,
        dropout: float = 0.0,
        norm_first: bool = True,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(
            embed_dims,
            num_heads,
            ffn_ratio,
            dropout,
            include_query=False,
            norm_first=norm_first,
            init_cfg=init_cfg,
        )

    def forward(
        self,
        tokens: torch.Tensor,
        index: Optional[torch.Tensor] = None,
        mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Reason over tokens.

        Args:
            tokens (Tensor): (B, L, D) tokens of one tower.
            index (Tensor, optional): (B,) slot read per row; defaults to 0
                (the image class token).
            mask (Tensor, optional): (B, L) bool, True = real token (text
                padding False). Defaults to all True.

        Returns:
            Tensor: (B, D) refined global features.
        """
        if tokens.ndim != 3:
            raise ValueError(f'tokens must be (B, L, D), got {tuple(tokens.shape)}')
        b = tokens.shape[0]
        if index is None:
            index = torch.zeros(b, dtype=torch.long, device=tokens.device)
        query = tokens[torch.arange(b, device=tokens.device), index]
        return super().forward(query, tokens, mask)
