# Copyright (c) tpr_mm contributors. All rights reserved.
"""Crash-safe file writing and safe checkpoint reading.

Importing this package registers the ``'atomic_local'`` MMEngine file backend
and makes every scheme of MMEngine's ``CheckpointLoader`` (local paths, URLs,
model-zoo names) read checkpoints with :func:`safe_torch_load` (explicit
``weights_only=True``).
"""

from .atomic_backend import AtomicLocalBackend, atomic_write_bytes, atomic_write_text
from .checkpoint_schemes import download_checkpoint, register_safe_mmengine_loaders
from .safe_checkpoint import (
    CheckpointReadError,
    UnsafeCheckpointError,
    describe_checkpoint_damage,
    safe_torch_load,
)
from .safe_globals import mmengine_checkpoint_types, mmengine_safe_globals

register_safe_mmengine_loaders()

__all__ = [
    'AtomicLocalBackend',
    'atomic_write_bytes',
    'atomic_write_text',
    'CheckpointReadError',
    'UnsafeCheckpointError',
    'describe_checkpoint_damage',
    'download_checkpoint',
    'register_safe_mmengine_loaders',
    'safe_torch_load',
    'mmengine_checkpoint_types',
    'mmengine_safe_globals',
]
