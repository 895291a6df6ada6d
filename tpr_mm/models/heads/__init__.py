# Copyright (c) tpr_mm contributors. All rights reserved.
from .cpcl_head import CPCLHead
from .global_matching_head import GlobalMatchingHead, labels_from_samples

__all__ = ['GlobalMatchingHead', 'labels_from_samples', 'CPCLHead']
