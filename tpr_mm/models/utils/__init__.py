# Copyright (c) tpr_mm contributors. All rights reserved.
"""Helpers shared by model components: building sub-modules, reading data samples,
loading run-size buffers."""

from .builder import build_losses, build_module, check_unique_loss_names, loss_name_of
from .data_samples import labels_from_samples, sample_indices
from .run_size_buffers import RunSizeBuffers

__all__ = [
    'build_module',
    'build_losses',
    'check_unique_loss_names',
    'loss_name_of',
    'labels_from_samples',
    'sample_indices',
    'RunSizeBuffers',
]
