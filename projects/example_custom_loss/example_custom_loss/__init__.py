# Copyright (c) tpr_mm contributors. All rights reserved.
"""Example out-of-tree extension: a custom loss.

Importing this package registers :class:`PairAlignmentLoss` into
``tpr_mm.registry.MODELS``; a config names the package in ``custom_imports``
to make it available.
"""

from .pair_alignment_loss import PairAlignmentLoss, pair_alignment_loss

__all__ = ['PairAlignmentLoss', 'pair_alignment_loss']
