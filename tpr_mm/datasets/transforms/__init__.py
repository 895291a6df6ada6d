# Copyright (c) tpr_mm contributors. All rights reserved.
from .bert_tokenize import BertTokenizeCaption
from .caption_token_aug import CaptionTokenAugment
from .formatting import PackTextReIDInputs
from .loading import LoadPersonImage
from .processing import (
    CLIP_MEAN,
    CLIP_STD,
    PadRandomCrop,
    RandomErasingImage,
    RandomHorizontalFlip,
    ResizeImage,
)
from .tokenize import TokenizeCaption, tokenize_caption

__all__ = [
    'LoadPersonImage',
    'ResizeImage',
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
]
