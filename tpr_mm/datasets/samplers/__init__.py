# Copyright (c) tpr_mm contributors. All rights reserved.
"""Data samplers (registered in ``tpr_mm.registry.DATA_SAMPLERS``)."""

from .identity_sampler import IdentitySampler

__all__ = ['IdentitySampler']
