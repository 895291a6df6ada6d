# Copyright (c) tpr_mm contributors. All rights reserved.
"""Schedule-dependent hooks."""
from .finite_loss_hook import FiniteLossHook, NonFiniteLossError
from .pseudo_label_hook import PseudoLabelHook

__all__ = ['FiniteLossHook', 'NonFiniteLossError', 'PseudoLabelHook']
