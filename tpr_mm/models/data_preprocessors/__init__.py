# Copyright (c) tpr_mm contributors. All rights reserved.
from .support_set_preprocessor import SupportSetDataPreprocessor
from .text_reid_preprocessor import TextReIDDataPreprocessor

__all__ = ['TextReIDDataPreprocessor', 'SupportSetDataPreprocessor']
