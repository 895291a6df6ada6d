# Copyright (c) tpr_mm contributors. All rights reserved.
"""Pseudo-label quality against true identities (monitoring only).

ARI and NMI come from scikit-learn; the pairwise precision/recall, which it
does not offer, is counted here from the contingency table.
"""

from typing import Dict

import numpy as np


def _singletons(labels: np.ndarray) -> np.ndarray:
    """Give every outlier (-1) its own cluster id."""
    labels = np.asarray(labels, dtype=np.int64).copy()
    out = labels < 0
    labels[out] = labels.max(initial=-1) + 1 + np.arange(int(out.sum()))
    return labels


def _contingency(pred: np.ndarray, true: np.ndarray):
    """Non-zero cells n_ij and the marginals a_i (pred), b_j (true)."""
    _, p = np.unique(pred, return_inverse=True)
    _, t = np.unique(true, return_inverse=True)
    _, cells = np.unique(p.astype(np.int64) * (t.max() + 1) + t, return_counts=True)
    return cells, np.bincount(p), np.bincount(t)


def _pairs(x: np.ndarray) -> float:
    x = x.astype(np.float64)
    return float((x * (x - 1) / 2).sum())


def _check(pred, true):
    pred, true = np.asarray(pred).ravel(), np.asarray(true).ravel()
    if pred.shape != true.shape or pred.size == 0:
        raise ValueError(
            f'pseudo-label quality: pred and true must be non-empty and of equal '
            f'length, got {pred.shape} and {true.shape}'
        )
    return pred, true


def adjusted_rand_index(pred: np.ndarray, true: np.ndarray) -> float:
    """Adjusted Rand index (Hubert & Arabie) of two labelings of N items.

    A thin wrapper over :func:`sklearn.metrics.adjusted_rand_score` that keeps
    this module's input checks.
    """
    from sklearn.metrics import adjusted_rand_score  # seconds to import: only when used

    pred, true = _check(pred, true)
    return float(adjusted_rand_score(true, pred))


def normalized_mutual_info(pred: np.ndarray, true: np.ndarray) -> float:
    """NMI with the arithmetic-mean normaliser: I(P;T) / ((H(P) + H(T)) / 2).

    A thin wrapper over :func:`sklearn.metrics.normalized_mutual_info_score`
    (``average_method='arithmetic'``) that keeps this module's input checks.
    """
    from sklearn.metrics import normalized_mutual_info_score  # seconds to import

    pred, true = _check(pred, true)
    return float(normalized_mutual_info_score(true, pred, average_method='arithmetic'))


def pairwise_precision_recall(pred: np.ndarray, true: np.ndarray) -> Dict[str, float]:
    """Precision/recall of the item pairs put together by ``pred``.

    precision = |same pred & same true| / |same pred|,
    recall = |same pred & same true| / |same true| (1.0 when undefined).
    """
    pred, true = _check(pred, true)
    cells, a, b = _contingency(pred, true)
    both, same_p, same_t = _pairs(cells), _pairs(a), _pairs(b)
    return {
        'precision': both / same_p if same_p else 1.0,
        'recall': both / same_t if same_t else 1.0,
    }


def pseudo_label_quality(pred: np.ndarray, true: np.ndarray) -> Dict[str, float]:
    """ARI, NMI and pairwise precision/recall; outliers count as singletons.

    Args:
        pred (np.ndarray): (N,) pseudo labels, -1 for outliers.
        true (np.ndarray): (N,) true identities (monitoring only).

    Returns:
        dict: ``ari``, ``nmi``, ``pair_precision``, ``pair_recall``.
    """
    pred = _singletons(pred)
    pr = pairwise_precision_recall(pred, true)
    return {
        'ari': adjusted_rand_index(pred, true),
        'nmi': normalized_mutual_info(pred, true),
        'pair_precision': pr['precision'],
        'pair_recall': pr['recall'],
    }
