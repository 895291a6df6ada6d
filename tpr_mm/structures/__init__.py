# Copyright (c) tpr_mm contributors. All rights reserved.
from .data_sample import TextReIDDataSample

__all__ = ['TextReIDDataSample']
