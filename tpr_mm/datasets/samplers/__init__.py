# Copyright (c) tpr_mm contributors. All rights reserved.
"""Data samplers (registered in ``tpr_mm.registry.DATA_SAMPLERS``) and worker seeding."""

from .identity_sampler import IdentitySampler
from .worker_seeding import EpochWorkerSeeder, attach_epoch_seeder, exit_with_parent, worker_seeds

__all__ = [
    'IdentitySampler',
    'EpochWorkerSeeder',
    'attach_epoch_seeder',
    'exit_with_parent',
    'worker_seeds',
]
