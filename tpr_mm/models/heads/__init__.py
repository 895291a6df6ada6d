# Copyright (c) tpr_mm contributors. All rights reserved.
from .base_head import BaseRetrievalHead
from .cfine_head import CFineHead
from .cfr_head import CFRHead
from .cpcl_head import CPCLHead
from .distill_head import DistillationHead
from .fcd_head import FCDHead
from .global_matching_head import GlobalMatchingHead
from .irra_head import IRRAHead
from .mlm_head import MLMPredictionHead
from .rde_head import RDEHead

__all__ = [
    'BaseRetrievalHead',
    'GlobalMatchingHead',
    'CPCLHead',
    'CFineHead',
    'CFRHead',
    'FCDHead',
    'RDEHead',
    'IRRAHead',
    'DistillationHead',
    'MLMPredictionHead',
]
