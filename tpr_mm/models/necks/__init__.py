# Copyright (c) tpr_mm contributors. All rights reserved.
"""Necks: modules between a backbone's tokens and the retrieval features."""

from .mgf_neck import MGFNeck
from .residual_cross_attention import QuickGELU, ResidualCrossAttentionBlock
from .token_selection import gather_tokens, select_informative_tokens
from .token_selection_embedding import (
    TSEMLP,
    TextTokenSelectionEmbedding,
    VisualTokenSelectionEmbedding,
)

__all__ = [
    'MGFNeck',
    'ResidualCrossAttentionBlock',
    'QuickGELU',
    'select_informative_tokens',
    'gather_tokens',
    'TSEMLP',
    'VisualTokenSelectionEmbedding',
    'TextTokenSelectionEmbedding',
]
