# Copyright (c) tpr_mm contributors. All rights reserved.
"""Synthetic pedestrians with captions, written in the CUHK-PEDES layout.

The default dataset of the demo and the tests: no download needed, learnable
in minutes on a CPU, and deterministic from a seed.
"""

from .attributes import (
    COLOR_WORDS,
    COLORS,
    HAIR_COLORS,
    NOUNS,
    PersonAttributes,
    make_caption,
    sample_attributes,
    sample_identities,
    tokenize_caption,
)
from .generator import (
    GENERATOR_VERSION,
    generate_synthetic_pedes,
    load_synthetic_attributes,
    read_synthetic_meta,
    synthetic_params_match,
)
from .render import render_person

__all__ = [
    'COLORS',
    'COLOR_WORDS',
    'HAIR_COLORS',
    'NOUNS',
    'PersonAttributes',
    'sample_attributes',
    'sample_identities',
    'make_caption',
    'tokenize_caption',
    'render_person',
    'generate_synthetic_pedes',
    'synthetic_params_match',
    'read_synthetic_meta',
    'load_synthetic_attributes',
    'GENERATOR_VERSION',
]
