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
from .part_resnet import PartPoolingResNet
from .resnet_bert_textcnn import ResNetBertTextCNN
from .resnet_weights import convert_resnet_state_dict, load_imagenet_resnet
from .text_cnn import ResidualTextCNN

__all__ = [
    'OpenCLIPBackbone',
    'HFBertBackbone',
    'PartPoolingResNet',
    'ResidualTextCNN',
    'ResNetBertTextCNN',
    'load_imagenet_resnet',
    'convert_resnet_state_dict',
    'image_token_forward',
    'text_token_forward',
    'is_torchscript_archive',
    'read_clip_checkpoint',
    'load_clip_state_dict',
    'resize_visual_pos_embed',
]
