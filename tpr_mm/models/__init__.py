# Copyright (c) tpr_mm contributors. All rights reserved.
"""Models: backbones, heads, losses, memories, necks and retrievers."""

from .backbones import HFBertBackbone, OpenCLIPBackbone
from .data_preprocessors import TextReIDDataPreprocessor
from .fusion import MultiHeadAttentionalFusion, TokenReasoningLayer
from .heads import GlobalMatchingHead
from .losses import IDLoss, ITCLoss, SDMLoss, id_loss, itc_loss, sdm_loss
from .memories import PrototypeMemory
from .necks import MGFNeck
from .retrievers import TextImageRetriever

__all__ = [
    'TextImageRetriever',
    'GlobalMatchingHead',
    'TextReIDDataPreprocessor',
    'SDMLoss',
    'ITCLoss',
    'IDLoss',
    'sdm_loss',
    'itc_loss',
    'id_loss',
    'OpenCLIPBackbone',
    'PrototypeMemory',
    'MultiHeadAttentionalFusion',
    'TokenReasoningLayer',
    'MGFNeck',
    'HFBertBackbone',
]
