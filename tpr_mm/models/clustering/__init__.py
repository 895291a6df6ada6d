# Copyright (c) tpr_mm contributors. All rights reserved.
"""Scalable pseudo-label clustering (k-reciprocal Jaccard + DBSCAN)."""

from .dbscan import dbscan_precomputed_sparse
from .jaccard import neighbour_sizes, sparse_jaccard_distance
from .knn import knn_search, normalize_features, pair_similarity
from .pseudo_labels import cluster_pseudo_labels

__all__ = [
    'cluster_pseudo_labels',
    'dbscan_precomputed_sparse',
    'knn_search',
    'neighbour_sizes',
    'normalize_features',
    'pair_similarity',
    'sparse_jaccard_distance',
]
