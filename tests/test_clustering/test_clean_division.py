# Copyright (c) tpr_mm contributors. All rights reserved.
"""2-GMM EM, RDE's clean split, consensus and the division-quality measure against naive loops."""

import math

import numpy as np
import pytest

from tpr_mm.clustering import (
    clean_probability,
    consensus_division,
    division_quality,
    fit_gmm_1d,
    gmm_posterior,
    split_clean,
    two_means_1d,
)


def _naive_em(x, labels, max_iter, tol, reg_covar):
    """scikit-learn GaussianMixture's EM, one sample at a time (one-hot start from labels)."""
    eps = 10 * np.finfo(np.float64).eps
    resp = [[1.0 if lab == k else 0.0 for k in (0, 1)] for lab in labels]

    def m_step(resp):
        mass = [sum(r[k] for r in resp) + eps for k in (0, 1)]
        mean = [sum(r[k] * v for r, v in zip(resp, x)) / mass[k] for k in (0, 1)]
        var = [
            sum(r[k] * (v - mean[k]) ** 2 for r, v in zip(resp, x)) / mass[k] + reg_covar
            for k in (0, 1)
        ]
        return [m / sum(mass) for m in mass], mean, var

    def e_step(w, mean, var):
        total, resp = 0.0, []
        for v in x:
            dens = [
                w[k]
                * math.exp(-0.5 * (v - mean[k]) ** 2 / var[k])
                / math.sqrt(2 * math.pi * var[k])
                for k in (0, 1)
            ]
            total += math.log(sum(dens))
            resp.append([d / sum(dens) for d in dens])
        return total / len(x), resp

    w, mean, var = m_step(resp)
    bound = -math.inf
    for _ in range(max_iter):
        prev = bound
        bound, resp = e_step(w, mean, var)
        w, mean, var = m_step(resp)
        if abs(bound - prev) < tol:
            break
    return w, mean, var, e_step(w, mean, var)[1]


@pytest.mark.parametrize('max_iter,tol,reg', [(10, 1e-2, 5e-4), (100, 1e-4, 1e-6), (3, 0.0, 1e-3)])
def test_gmm_matches_naive_em(max_iter, tol, reg):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0.15, 0.05, 70), rng.normal(0.6, 0.15, 50)]).clip(0, 1)
    params = fit_gmm_1d(x, max_iter=max_iter, tol=tol, reg_covar=reg)
    w, mean, var, resp = _naive_em(x.tolist(), two_means_1d(x).tolist(), max_iter, tol, reg)
    assert params['weights'] == pytest.approx(w, rel=1e-9)
    assert params['means'] == pytest.approx(mean, rel=1e-9)
    assert params['variances'] == pytest.approx(var, rel=1e-9)
    assert gmm_posterior(x, params) == pytest.approx(np.array(resp), abs=1e-9)


def test_two_means_reaches_the_best_threshold_split_on_bimodal_data():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0.0, 1.0, 40), rng.normal(6.0, 1.0, 30)])
    labels = two_means_1d(x)
    xs = np.sort(x)
    cost = [
        ((xs[:i] - xs[:i].mean()) ** 2).sum() + ((xs[i:] - xs[i:].mean()) ** 2).sum()
        for i in range(1, len(xs))
    ]
    best = int(np.argmin(cost)) + 1
    assert sorted(labels.tolist()) == [0] * best + [1] * (len(x) - best)
    assert (labels == (x > xs[best - 1])).all()


def test_clean_probability_separates_low_and_high_losses():
    rng = np.random.default_rng(2)
    clean = rng.normal(1.0, 0.2, 300)
    noisy = rng.normal(3.0, 0.3, 200)
    prob = clean_probability(np.concatenate([clean, noisy]), max_iter=100, tol=1e-4, reg_covar=1e-6)
    called = prob > 0.5
    assert called[:300].mean() > 0.99 and called[300:].mean() < 0.01
    # Normalisation: the result only depends on the losses up to an affine map.
    again = clean_probability(5.0 * np.concatenate([clean, noisy]) + 7.0, 100, 1e-4, 1e-6)
    assert again == pytest.approx(prob, abs=1e-9)
    assert (clean_probability(np.full(5, 2.0)) == 1).all()


def test_split_clean_follows_rde_threshold_rule():
    prob = np.array([0.2, 0.7, 0.5, 0.9])
    assert split_clean(prob).tolist() == [False, True, False, True]
    # All above 0.5: the (N // 100)-th smallest becomes the threshold (RDE/NCR fallback).
    prob = np.linspace(0.6, 0.99, 250)
    got = split_clean(prob)
    assert (~got).sum() == 250 // 100 + 1 and not got[:3].any() and got[3:].all()


def test_consensus_division_matches_rde_rule():
    a = np.array([1, 1, 0, 0, 1, 0, 1, 0] * 50, dtype=bool)
    b = np.array([1, 0, 1, 0, 1, 0, 0, 1] * 50, dtype=bool)
    got = consensus_division(a, b, np.random.default_rng(7))
    # Naive re-statement: votes 0/1/2, disagreements get +randint(0, 2) in order, clean iff > 1.
    rng = np.random.default_rng(7)
    votes = [int(x) + int(y) for x, y in zip(a, b)]
    flips = iter(rng.integers(0, 2, size=sum(v == 1 for v in votes)).tolist())
    want = [1.0 if (v + next(flips) if v == 1 else v) > 1 else 0.0 for v in votes]
    assert got.tolist() == want
    assert got.dtype == np.float32
    assert (got[a & b] == 1).all() and (got[~a & ~b] == 0).all()
    split = got[a != b]
    assert 0.35 < split.mean() < 0.65  # a fair coin over 200 disagreements


def test_division_quality_counts():
    rng = np.random.default_rng(3)
    called = rng.random(500) > 0.4
    truth = rng.random(500) > 0.5
    q = division_quality(called, truth)
    tp = sum(1 for c, t in zip(called, truth) if c and t)
    assert q['precision'] == pytest.approx(tp / sum(called))
    assert q['recall'] == pytest.approx(tp / sum(truth))
    assert q['called_clean_ratio'] == pytest.approx(sum(called) / 500)
    assert q['noisy_ratio'] == pytest.approx(1 - sum(truth) / 500)
    assert math.isnan(division_quality(np.zeros(4), np.ones(4))['precision'])
    with pytest.raises(ValueError, match='differ'):
        division_quality(np.ones(3), np.ones(4))
