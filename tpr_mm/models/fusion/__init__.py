# Copyright (c) tpr_mm contributors. All rights reserved.
"""Feature fusion modules (registered in ``tpr_mm.registry.MODELS``)."""

from .attentional_fusion import MultiHeadAttentionalFusion
from .token_reasoning import TokenReasoningLayer

__all__ = ['MultiHeadAttentionalFusion', 'TokenReasoningLayer']
