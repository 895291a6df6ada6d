# Copyright (c) tpr_mm contributors. All rights reserved.
"""Evaluation: pure ranking functions and the registered retrieval metric."""

from .functional import naive_rank_metrics, rank_metrics, rank_metrics_from_features, topk_indices
from .metrics import TextImageRetrievalMetric

__all__ = [
    'rank_metrics',
    'rank_metrics_from_features',
    'topk_indices',
    'naive_rank_metrics',
    'TextImageRetrievalMetric',
]
