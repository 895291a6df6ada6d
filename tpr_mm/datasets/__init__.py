# Copyright (c) tpr_mm contributors. All rights reserved.
"""Datasets, transforms and the synthetic dataset generator."""

from .base_text_reid import BaseTextReIDDataset
from .cuhk_pedes import CUHKPEDES
from .icfg_pedes import ICFGPEDES
from .rstp_reid import RSTPReid
from .samplers import IdentitySampler
from .support_set_dataset import SupportSetDataset
from .synthetic import generate_synthetic_pedes, synthetic_params_match
from .synthetic_pedes import SyntheticPEDES
from .transforms import (
    LoadPersonImage,
    PackTextReIDInputs,
    PadRandomCrop,
    RandomErasingImage,
    RandomHorizontalFlip,
    TokenizeCaption,
    tokenize_caption,
)

__all__ = [
    'BaseTextReIDDataset',
    'CUHKPEDES',
    'ICFGPEDES',
    'RSTPReid',
    'SyntheticPEDES',
    'generate_synthetic_pedes',
    'synthetic_params_match',
    'LoadPersonImage',
    'RandomHorizontalFlip',
    'PadRandomCrop',
    'RandomErasingImage',
    'TokenizeCaption',
    'tokenize_caption',
    'PackTextReIDInputs',
    'SupportSetDataset',
    'IdentitySampler',
]
