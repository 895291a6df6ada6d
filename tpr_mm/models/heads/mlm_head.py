# Copyright (c) tpr_mm contributors. All rights reserved.
"""IRRA's token classifier over the vocabulary for masked language modelling."""

from collections import OrderedDict
from typing import Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tpr_mm.models.necks.residual_cross_attention import QuickGELU
from tpr_mm.registry import MODELS

__all__ = ['MLMPredictionHead']


@MODELS.register_module()
class MLMPredictionHead(BaseModule):
    """``fc(LN(QuickGELU(dense(x))))``: token features -> vocabulary logits.

    Re-states IRRA's ``mlm_head`` (``anosorae/IRRA:model/build.py``): submodules
    ``dense`` (D -> D), ``gelu``, ``ln``, ``fc`` (D -> V). Initialisation as
    the reference: ``dense.weight`` N(0, (2W)^-0.5), ``fc.weight`` N(0,
    W^-0.5 (2L)^-0.5), where W and L are the width and depth of the
    cross-modal encoder feeding it; biases and the LayerNorm keep PyTorch's
    defaults. Parameters are named ``...mlm_head...`` by the owning head, which
    the IRRA optimiser rule matches.

    Args:
        embed_dims (int): Token width D.
        vocab_size (int): Output classes V. Defaults to 49408 (CLIP's).
        encoder_width (int, optional): W; defaults to ``embed_dims``.
        encoder_layers (int): L, the encoder's block count. Defaults to 4.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        embed_dims: int,
        vocab_size: int = 49408,
        encoder_width: Optional[int] = None,
        encoder_layers: int = 4,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.embed_dims, self.vocab_size = embed_dims, vocab_size
        width = encoder_width if encoder_width is not None else embed_dims
        layers = OrderedDict(
            [
                ('dense', nn.Linear(embed_dims, embed_dims)),
                ('gelu', QuickGELU()),
                ('ln', nn.LayerNorm(embed_dims)),
                ('fc', nn.Linear(embed_dims, vocab_size)),
            ]
        )
        for name, layer in layers.items():
            self.add_module(name, layer)
        nn.init.normal_(self.dense.weight, std=(2 * width) ** -0.5)
        nn.init.normal_(self.fc.weight, std=width**-0.5 * (2 * encoder_layers) ** -0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., D) token features -> (..., V) logits."""
        return self.fc(self.ln(self.gelu(self.dense(x))))
