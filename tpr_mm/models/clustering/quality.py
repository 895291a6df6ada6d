# Copyright (c) tpr_mm contributors. All rights reserved.
"""Pseudo-label quality against true identities (monitoring only)."""

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
    """Adjusted Rand index (Hubert & Arabie) of two labelings of N items."""
    pred, true = _check(pred, true)
    cells, a, b = _contingency(pred, true)
    index, sum_a, sum_b = _pairs(cells), _pairs(a), _pairs(b)
    total = pred.size * (pred.size - 1) / 2
    expected = sum_a * sum_b / total if total else 0.0
    max_index = (sum_a + sum_b) / 2
    if max_index == expected:  # both trivial (all singletons or one cluster)
        return 1.0
    return float((index - expected) / (max_index - expected))


def normalized_mutual_info(pred: np.ndarray, true: np.ndarray) -> float:
    """NMI with the arithmetic-mean normaliser: I(P;T) / ((H(P) + H(T)) / 2)."""
    pred, true = _check(pred, true)
    n = float(pred.size)
    _, p = np.unique(pred, return_inverse=True)
    _, t = np.unique(true, return_inverse=True)
    key, cells = np.unique(p.astype(np.int64) * (t.max() + 1) + t, return_counts=True)
    a, b = np.bincount(p).astype(np.float64), np.bincount(t).astype(np.float64)
    ai, bj = a[key // (t.max() + 1)], b[key % (t.max() + 1)]
    mi = float((cells / n * np.log(cells * n / (ai * bj))).sum())
    h_p = float(-(a / n * np.log(a / n)).sum())
    h_t = float(-(b / n * np.log(b / n)).sum())
    if h_p == 0.0 and h_t == 0.0:
        return 1.0
    return float(mi / ((h_p + h_t) / 2))


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
