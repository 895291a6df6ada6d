# Copyright (c) tpr_mm contributors. All rights reserved.
"""Example out-of-tree extension: a custom loss and a custom head.

Importing this package registers :class:`PairAlignmentLoss` and
:class:`AlignedMatchingHead` into ``tpr_mm.registry.MODELS``; a config names
the package in ``custom_imports`` to make them available.
"""

from .aligned_head import AlignedMatchingHead
from .pair_alignment_loss import PairAlignmentLoss, pair_alignment_loss

__all__ = ['AlignedMatchingHead', 'PairAlignmentLoss', 'pair_alignment_loss']
