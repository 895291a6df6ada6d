# Copyright (c) tpr_mm contributors. All rights reserved.
"""Kept for imports of ``tpr_mm.engine.runner.safe_loading``; see :mod:`tpr_mm.fileio`."""

from tpr_mm.fileio.safe_checkpoint import safe_torch_load
from tpr_mm.fileio.safe_globals import mmengine_checkpoint_types, mmengine_safe_globals

__all__ = ['mmengine_checkpoint_types', 'mmengine_safe_globals', 'safe_torch_load']
