# Copyright (c) tpr_mm contributors. All rights reserved.
"""Helpers for tests: tiny stand-ins of real checkpoints and models."""

from .clip_fixtures import (
    build_tiny_clip,
    make_open_clip_checkpoint,
    make_openai_torchscript,
    tiny_clip_cfg,
)

__all__ = [
    'tiny_clip_cfg',
    'build_tiny_clip',
    'make_openai_torchscript',
    'make_open_clip_checkpoint',
]
