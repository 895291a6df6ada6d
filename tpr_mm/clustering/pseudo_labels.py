# Copyright (c) tpr_mm contributors. All rights reserved.
"""Per-epoch pseudo labels: k-reciprocal Jaccard distance + DBSCAN.

Source: alibaba/cluster-contrast-reid:clustercontrast/utils/faiss_rerank.py
(``compute_jaccard_distance``) and the per-epoch DBSCAN of
alibaba/cluster-contrast-reid:examples/cluster_contrast_train_usl.py.
"""

import numpy as np

from .jaccard import query_expanded_weights
from .knn import ArrayLike, normalize_features
from .overlap import overlap_blocks
from .stream_dbscan import dbscan_pair_blocks


def cluster_pseudo_labels(
    features: ArrayLike,
    k1: int = 30,
    k2: int = 6,
    eps: float = 0.6,
    min_samples: int = 4,
) -> np.ndarray:
    """Cluster features into pseudo identities.

    Features are L2-normalised, turned into the k-reciprocal Jaccard distance
    (Zhong et al., CVPR 2017; cluster-contrast defaults ``k1=30, k2=6``) and
    clustered by DBSCAN (``eps=0.6, min_samples=4``) with scikit-learn's
    semantics. The overlapping pairs are computed in blocks of bounded work,
    cut at ``eps`` inside the block and fed straight to a streaming DBSCAN
    (:class:`StreamingDBSCAN`), so the eps-graph is never stored: memory is
    O(N * (k1 * k2 + min_samples)) plus a fixed block, whatever the data.

    Args:
        features (np.ndarray | torch.Tensor): (N, D) features of one modality,
            any float dtype and device.
        k1 (int): k-reciprocal neighbourhood size including self; clipped
            to N.
        k2 (int): Query-expansion neighbourhood size including self.
        eps (float): DBSCAN radius on the Jaccard distance (inclusive).
        min_samples (int): DBSCAN core-point size, self included.

    Returns:
        np.ndarray: (N,) int64 labels; -1 marks outliers, clusters are
        numbered 0..C-1 by their smallest core-sample index.
    """
    if not eps >= 0 or min_samples < 1:
        raise ValueError(
            f'need eps >= 0 and min_samples >= 1, got eps={eps}, min_samples={min_samples}'
        )
    x = normalize_features(features)
    v = query_expanded_weights(x, k1, k2)
    blocks = ((i1, rows, cols) for i1, rows, cols, _ in overlap_blocks(v, max_distance=eps))
    return dbscan_pair_blocks(blocks, x.shape[0], min_samples)
