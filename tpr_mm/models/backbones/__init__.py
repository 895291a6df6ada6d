# Copyright (c) tpr_mm contributors. All rights reserved.
"""Backbones (registered in ``tpr_mm.registry.MODELS``) and their helpers."""

from .clip_tokens import image_token_forward, text_token_forward
from .clip_weights import (
    is_torchscript_archive,
    load_clip_state_dict,
    read_clip_checkpoint,
    resize_visual_pos_embed,
)
from .hf_bert import HFBertBackbone
from .open_clip_backbone import OpenCLIPBackbone

__all__ = [
    'OpenCLIPBackbone',
    'HFBertBackbone',
    'image_token_forward',
    'text_token_forward',
    'is_torchscript_archive',
    'read_clip_checkpoint',
    'load_clip_state_dict',
    'resize_visual_pos_embed',
]
