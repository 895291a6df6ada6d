# Copyright (c) tpr_mm contributors. All rights reserved.
"""Schedule-dependent hooks."""

from .consensus_division_hook import ConsensusDivisionHook
from .data_issue_hook import DataIssueReportHook
from .finite_loss_hook import FiniteLossHook, NonFiniteLossError
from .frozen_teacher_hook import FrozenTeacherHook
from .pseudo_label_hook import PseudoLabelHook
from .rehearsal_hook import RehearsalHook
from .rng_state_hook import RNGStateHook
from .tpr_checkpoint_hook import TPRCheckpointHook
from .tpr_logger_hook import TPRLoggerHook

__all__ = [
    'FiniteLossHook',
    'NonFiniteLossError',
    'PseudoLabelHook',
    'RNGStateHook',
    'TPRCheckpointHook',
    'TPRLoggerHook',
    'DataIssueReportHook',
    'ConsensusDivisionHook',
    'FrozenTeacherHook',
    'RehearsalHook',
]
