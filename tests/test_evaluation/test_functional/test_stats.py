# Copyright (c) tpr_mm contributors. All rights reserved.
"""Confidence intervals against a plain re-statement with scipy's t interval."""

import math

import numpy as np
import pytest
from scipy import stats

from tpr_mm.evaluation.functional.stats import mean_interval, paired_difference, summarize_runs


def _naive(values, confidence=0.95):
    a = np.asarray(values, dtype=np.float64)
    low, high = stats.t.interval(confidence, len(a) - 1, loc=a.mean(), scale=stats.sem(a))
    return a.mean(), (high - low) / 2


@pytest.mark.parametrize('n', [2, 3, 5, 10])
@pytest.mark.parametrize('confidence', [0.9, 0.95, 0.99])
def test_mean_interval_equals_scipy_t_interval(n, confidence):
    values = np.random.default_rng(n).normal(30.0, 2.5, size=n)
    iv = mean_interval(values, confidence)
    mean, half = _naive(values, confidence)
    assert iv.mean == pytest.approx(mean, abs=1e-12)
    assert iv.half_width == pytest.approx(half, rel=1e-10)
    assert iv.n == n and iv.std == pytest.approx(np.std(values, ddof=1))


def test_single_value_has_no_interval_and_never_excludes_zero():
    iv = mean_interval([3.0])
    assert iv.mean == 3.0 and math.isnan(iv.half_width) and not iv.excludes_zero
    assert iv.format() == '3.00 (n=1)'


def test_bad_inputs_are_refused():
    with pytest.raises(ValueError, match='at least one'):
        mean_interval([])
    with pytest.raises(ValueError, match='non-finite'):
        mean_interval([1.0, float('nan')])
    with pytest.raises(ValueError, match='confidence'):
        mean_interval([1.0, 2.0], confidence=1.0)
    with pytest.raises(ValueError, match='no seed in common'):
        paired_difference({0: 1.0}, {1: 1.0})


def test_paired_difference_uses_shared_seeds_only():
    ours = {0: 31.0, 1: 33.0, 2: 30.0, 7: 99.0}
    base = {0: 30.0, 1: 30.5, 2: 29.0}
    iv = paired_difference(ours, base)
    mean, half = _naive([1.0, 2.5, 1.0])
    assert iv.n == 3
    assert iv.mean == pytest.approx(mean) and iv.half_width == pytest.approx(half)
    assert iv.excludes_zero == (iv.low > 0)


def test_pairing_removes_the_shared_seed_effect():
    # Seed effects of ±5 shared by both configs, a constant +1 gain: the paired
    # interval is exact (zero width) while unpaired means overlap widely.
    base = {s: 30.0 + e for s, e in enumerate([-5.0, 0.0, 5.0, 2.0])}
    ours = {s: v + 1.0 for s, v in base.items()}
    iv = paired_difference(ours, base)
    assert iv.mean == pytest.approx(1.0) and iv.half_width == pytest.approx(0.0, abs=1e-12)
    assert mean_interval(list(base.values())).half_width > 3.0


def test_summarize_runs_pairs_every_metric_with_the_baseline():
    runs = {
        'base': {0: {'R1': 10.0, 'mAP': 5.0}, 1: {'R1': 12.0, 'mAP': 6.0}},
        'new': {0: {'R1': 14.0, 'mAP': 5.0}, 1: {'R1': 15.0, 'mAP': 7.0}},
    }
    out = summarize_runs(runs, ['R1', 'mAP'], baseline='base')
    assert out['base']['vs_baseline'] == {}
    assert out['new']['vs_baseline']['R1'].mean == pytest.approx(3.5)
    assert out['new']['metrics']['mAP'].mean == pytest.approx(6.0)
    with pytest.raises(ValueError, match='baseline'):
        summarize_runs(runs, ['R1'], baseline='missing')
