# Copyright (c) tpr_mm contributors. All rights reserved.
from .cfine_head import CFineHead
from .cfr_head import CFRHead
from .cpcl_head import CPCLHead
from .fcd_head import FCDHead
from .global_matching_head import GlobalMatchingHead, labels_from_samples
from .rde_head import RDEHead

__all__ = [
    'GlobalMatchingHead',
    'labels_from_samples',
    'CPCLHead',
    'CFineHead',
    'CFRHead',
    'FCDHead',
    'RDEHead',
]
