# Copyright (c) tpr_mm contributors. All rights reserved.
"""Feature memories (cluster prototypes) used by weakly supervised methods."""

from .prototype_memory import PrototypeMemory, cluster_means, momentum_update

__all__ = ['PrototypeMemory', 'cluster_means', 'momentum_update']
