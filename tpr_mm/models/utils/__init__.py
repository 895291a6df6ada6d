# Copyright (c) tpr_mm contributors. All rights reserved.
"""Helpers shared by model components: building sub-modules, reading data samples."""

from .builder import build_losses, build_module, check_unique_loss_names, loss_name_of
from .data_samples import labels_from_samples, sample_indices

__all__ = [
    'build_module',
    'build_losses',
    'check_unique_loss_names',
    'loss_name_of',
    'labels_from_samples',
    'sample_indices',
]
