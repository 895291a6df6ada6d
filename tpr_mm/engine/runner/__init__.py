# Copyright (c) tpr_mm contributors. All rights reserved.
from .checkpoint import resolve_checkpoint
from .dist_backend import use_gloo_without_cuda
from .safe_loading import mmengine_checkpoint_types, mmengine_safe_globals
from .tpr_runner import CheckpointMismatchError, TPRRunner, checkpoint_mismatches

__all__ = [
    'TPRRunner',
    'mmengine_safe_globals',
    'mmengine_checkpoint_types',
    'CheckpointMismatchError',
    'checkpoint_mismatches',
    'use_gloo_without_cuda',
    'resolve_checkpoint',
]
