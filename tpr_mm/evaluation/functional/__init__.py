# Copyright (c) tpr_mm contributors. All rights reserved.
from .ranking import rank_metrics, rank_metrics_from_features, topk_indices
from .reference import naive_rank_metrics

__all__ = ['rank_metrics', 'rank_metrics_from_features', 'topk_indices', 'naive_rank_metrics']
