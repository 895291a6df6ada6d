# Copyright (c) tpr_mm contributors. All rights reserved.
"""A two-component 1-D Gaussian mixture fitted by EM (scikit-learn's rules, no dependency)."""

from typing import Dict

import numpy as np

__all__ = ['two_means_1d', 'fit_gmm_1d', 'gmm_posterior']

_EPS = 10 * np.finfo(np.float64).eps  # scikit-learn's guard on component masses


def two_means_1d(x: np.ndarray, max_iter: int = 100) -> np.ndarray:
    """Lloyd's 2-means on 1-D data started at the minimum and maximum.

    A deterministic stand-in for scikit-learn's k-means(++) initialisation.

    Returns:
        np.ndarray: (N,) labels in {0, 1}; 0 = the lower centre.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    centres = np.array([x.min(), x.max()])
    labels = np.zeros(x.size, dtype=np.int64)
    for _ in range(max_iter):
        new = (np.abs(x - centres[1]) < np.abs(x - centres[0])).astype(np.int64)
        for k in (0, 1):
            if (new == k).any():
                centres[k] = x[new == k].mean()
        if np.array_equal(new, labels):
            break
        labels = new
    return labels


def _m_step(x: np.ndarray, resp: np.ndarray, reg_covar: float):
    mass = resp.sum(axis=0) + _EPS
    means = resp.T @ x / mass
    variances = (resp * (x[:, None] - means) ** 2).sum(axis=0) / mass + reg_covar
    return mass / mass.sum(), means, variances


def _log_resp(x: np.ndarray, weights, means, variances):
    log_prob = -0.5 * (
        np.log(2 * np.pi * variances) + (x[:, None] - means) ** 2 / variances
    ) + np.log(weights)
    top = log_prob.max(axis=1, keepdims=True)
    norm = top[:, 0] + np.log(np.exp(log_prob - top).sum(axis=1))
    return norm.mean(), log_prob - norm[:, None]


def fit_gmm_1d(
    x: np.ndarray, max_iter: int = 100, tol: float = 1e-3, reg_covar: float = 1e-6
) -> Dict[str, np.ndarray]:
    """Fit a 2-component Gaussian mixture to 1-D data by EM.

    Follows ``sklearn.mixture.GaussianMixture(n_components=2)`` with one
    initialisation: responsibilities start one-hot from 2-means labels
    (:func:`two_means_1d`, deterministic, where scikit-learn draws a random
    k-means++ start), then each iteration runs an E and an M step until the
    mean log-likelihood changes by less than ``tol`` or ``max_iter``
    iterations ran. ``reg_covar`` is added to each variance; component masses
    get scikit-learn's ``10·eps``.

    Args:
        x (np.ndarray): (N,) samples.
        max_iter (int): EM iterations at most. Defaults to 100.
        tol (float): Convergence threshold on the mean log-likelihood.
        reg_covar (float): Variance floor added in every M step.

    Returns:
        dict: ``weights``, ``means``, ``variances`` (2,) each, ``n_iter``
        and ``converged``.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    if x.size < 2:
        raise ValueError(f'a 2-component mixture needs at least 2 samples, got {x.size}')
    if not np.isfinite(x).all():
        raise ValueError('fit_gmm_1d: the samples contain NaN or inf')
    labels = two_means_1d(x)
    resp = np.stack([labels == 0, labels == 1], axis=1).astype(np.float64)
    weights, means, variances = _m_step(x, resp, reg_covar)
    bound, converged, n_iter = -np.inf, False, 0
    while n_iter < max_iter:
        n_iter += 1
        prev = bound
        bound, log_resp = _log_resp(x, weights, means, variances)
        weights, means, variances = _m_step(x, np.exp(log_resp), reg_covar)
        if abs(bound - prev) < tol:
            converged = True
            break
    return dict(
        weights=weights, means=means, variances=variances, n_iter=n_iter, converged=converged
    )


def gmm_posterior(x: np.ndarray, params: Dict[str, np.ndarray]) -> np.ndarray:
    """(N, 2) component posteriors of ``x`` under fitted ``params``."""
    x = np.asarray(x, dtype=np.float64).ravel()
    return np.exp(_log_resp(x, params['weights'], params['means'], params['variances'])[1])
