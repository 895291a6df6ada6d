# Copyright (c) tpr_mm contributors. All rights reserved.
"""tpr_mm: text-to-image person retrieval as an MMEngine plugin."""

from .version import __version__

__all__ = ['__version__']
