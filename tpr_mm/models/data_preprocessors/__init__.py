# Copyright (c) tpr_mm contributors. All rights reserved.
from .text_reid_preprocessor import TextReIDDataPreprocessor

__all__ = ['TextReIDDataPreprocessor']
