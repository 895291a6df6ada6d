# Copyright (c) tpr_mm contributors. All rights reserved.
"""Feature fusion modules (registered in ``tpr_mm.registry.MODELS``)."""

from .attentional_fusion import MultiHeadAttentionalFusion
from .irr_encoder import IRREncoder, IRRResidualBlock
from .token_reasoning import TokenReasoningLayer

__all__ = ['MultiHeadAttentionalFusion', 'TokenReasoningLayer', 'IRREncoder', 'IRRResidualBlock']
