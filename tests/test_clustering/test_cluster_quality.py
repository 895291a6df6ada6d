# Copyright (c) tpr_mm contributors. All rights reserved.
"""Pseudo-label quality metrics against naive pair-counting definitions."""

import itertools
import math

import numpy as np
import pytest

from tpr_mm.clustering.quality import (
    adjusted_rand_index,
    normalized_mutual_info,
    pairwise_precision_recall,
    pseudo_label_quality,
)


def _naive_pairs(pred, true):
    tp = fp = fn = tn = 0
    for i, j in itertools.combinations(range(len(pred)), 2):
        sp, st = pred[i] == pred[j], true[i] == true[j]
        tp += sp and st
        fp += sp and not st
        fn += st and not sp
        tn += not sp and not st
    return tp, fp, fn, tn


def _naive_ari(pred, true):
    tp, fp, fn, tn = _naive_pairs(pred, true)
    total = tp + fp + fn + tn
    same_p, same_t = tp + fp, tp + fn
    expected = same_p * same_t / total
    return (tp - expected) / ((same_p + same_t) / 2 - expected)


def _naive_nmi(pred, true):
    n = len(pred)
    mi = 0.0
    for a in set(pred):
        for b in set(true):
            nab = sum(1 for p, t in zip(pred, true) if p == a and t == b)
            if nab:
                na, nb = pred.count(a), true.count(b)
                mi += nab / n * math.log(n * nab / (na * nb))

    def h(x):
        return -sum(x.count(v) / n * math.log(x.count(v) / n) for v in set(x))

    return mi / ((h(pred) + h(true)) / 2)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_metrics_match_naive(seed):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 5, size=23).tolist()
    pred = [t if rng.random() < 0.6 else int(rng.integers(10, 14)) for t in true]
    assert math.isclose(
        adjusted_rand_index(np.array(pred), np.array(true)), _naive_ari(pred, true), rel_tol=1e-9
    )
    assert math.isclose(
        normalized_mutual_info(np.array(pred), np.array(true)), _naive_nmi(pred, true), rel_tol=1e-9
    )
    tp, fp, fn, _ = _naive_pairs(pred, true)
    pr = pairwise_precision_recall(np.array(pred), np.array(true))
    assert math.isclose(pr['precision'], tp / (tp + fp)) and math.isclose(
        pr['recall'], tp / (tp + fn)
    )


def test_perfect_and_permuted_labels_score_one():
    true = np.array([5, 5, 9, 9, 9, 2])
    q = pseudo_label_quality(np.array([1, 1, 0, 0, 0, 3]), true)
    assert q == pytest.approx({'ari': 1.0, 'nmi': 1.0, 'pair_precision': 1.0, 'pair_recall': 1.0})


def test_outliers_are_singletons():
    true = np.array([0, 0, 0, 1, 1, 1])
    pred = np.array([0, 0, -1, -1, -1, -1])
    q = pseudo_label_quality(pred, true)
    # only pair (0, 1) is predicted together: precision 1, recall 1 / 6
    assert q['pair_precision'] == 1.0 and math.isclose(q['pair_recall'], 1 / 6)
    singles = [0, 0, 2, 3, 4, 5]
    assert math.isclose(q['ari'], _naive_ari(singles, true.tolist()))
    assert math.isclose(q['nmi'], _naive_nmi(singles, true.tolist()))


def test_quality_rejects_bad_lengths():
    with pytest.raises(ValueError, match='equal'):
        pseudo_label_quality(np.zeros(3), np.zeros(4))


@pytest.mark.parametrize(
    'pred,true,ari,nmi',
    [
        ([0, 0, 0, 0], [3, 3, 3, 3], 1.0, 1.0),  # one cluster on both sides
        ([0, 1, 2, 3], [7, 6, 5, 4], 1.0, 1.0),  # singletons on both sides
        ([0, 0, 0, 0], [0, 1, 2, 3], 0.0, 0.0),  # one cluster against singletons
        ([5], [9], 1.0, 1.0),  # a single item
    ],
)
def test_degenerate_labelings_keep_their_conventions(pred, true, ari, nmi):
    # The naive formulas divide 0 by 0 here; the library keeps these values.
    assert adjusted_rand_index(np.array(pred), np.array(true)) == pytest.approx(ari, abs=1e-12)
    assert normalized_mutual_info(np.array(pred), np.array(true)) == pytest.approx(nmi, abs=1e-12)


def test_thin_wrappers_are_symmetric_and_check_lengths():
    rng = np.random.default_rng(3)
    a, b = rng.integers(0, 4, 30), rng.integers(0, 6, 30)
    assert math.isclose(adjusted_rand_index(a, b), adjusted_rand_index(b, a), rel_tol=1e-12)
    assert math.isclose(normalized_mutual_info(a, b), normalized_mutual_info(b, a), rel_tol=1e-12)
    assert math.isclose(
        normalized_mutual_info(a, b), _naive_nmi(a.tolist(), b.tolist()), rel_tol=1e-9
    )
    with pytest.raises(ValueError, match='equal'):
        adjusted_rand_index(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match='equal'):
        normalized_mutual_info(np.zeros(0), np.zeros(0))
