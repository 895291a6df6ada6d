# Copyright (c) tpr_mm contributors. All rights reserved.
from .bert_tokenize import BertTokenizeCaption
from .caption_token_aug import CaptionTokenAugment
from .formatting import PackTextReIDInputs
from .loading import LoadPersonImage
from .mask_caption import MaskCaptionTokens, mask_caption_tokens
from .processing import (
    CLIP_MEAN,
    CLIP_STD,
    PadRandomCrop,
    RandomErasingImage,
    RandomHorizontalFlip,
)
from .tokenize import TokenizeCaption, tokenize_caption

__all__ = [
    'LoadPersonImage',
    'RandomHorizontalFlip',
    'PadRandomCrop',
    'RandomErasingImage',
    'TokenizeCaption',
    'tokenize_caption',
    'PackTextReIDInputs',
    'CLIP_MEAN',
    'CLIP_STD',
    'BertTokenizeCaption',
    'CaptionTokenAugment',
    'MaskCaptionTokens',
    'mask_caption_tokens',
]
