# Copyright (c) tpr_mm contributors. All rights reserved.
from .feature_ranking import rank_metrics_from_features, topk_indices
from .ranking import rank_metrics
from .reference import naive_rank_metrics

__all__ = ['rank_metrics', 'rank_metrics_from_features', 'topk_indices', 'naive_rank_metrics']
