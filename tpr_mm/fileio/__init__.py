# Copyright (c) tpr_mm contributors. All rights reserved.
"""Crash-safe file writing (registers the ``'atomic_local'`` MMEngine backend)."""

from .atomic_backend import AtomicLocalBackend, atomic_write_bytes, atomic_write_text

__all__ = ['AtomicLocalBackend', 'atomic_write_bytes', 'atomic_write_text']
