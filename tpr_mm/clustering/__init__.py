# Copyright (c) tpr_mm contributors. All rights reserved.
"""Scalable pseudo-label clustering (k-reciprocal Jaccard + DBSCAN)."""

from .clean_division import (
    clean_probability,
    consensus_division,
    division_quality,
    split_clean,
)
from .dbscan import dbscan_precomputed_sparse
from .gmm import fit_gmm_1d, gmm_posterior, two_means_1d
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
    'clean_probability',
    'split_clean',
    'consensus_division',
    'division_quality',
    'fit_gmm_1d',
    'gmm_posterior',
    'two_means_1d',
]
