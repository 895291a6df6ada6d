# Copyright (c) tpr_mm contributors. All rights reserved.
"""RDE's consensus clean/noisy division of training pairs from per-pair losses."""

from typing import Dict, Optional

import numpy as np

from .gmm import fit_gmm_1d, gmm_posterior

__all__ = [
    'clean_probability',
    'split_clean',
    'consensus_division',
    'division_quality',
]


def clean_probability(
    losses: np.ndarray, max_iter: int = 10, tol: float = 1e-2, reg_covar: float = 5e-4
) -> np.ndarray:
    """Posterior of the low-loss component of a 2-GMM on min–max normalised losses.

    ``get_loss`` of ``QinYang79/RDE:2024-CVPR-RDE/processor/processor.py``
    (defaults = its setting for noise rates <= 0.4; it uses ``max_iter=100,
    tol=1e-4, reg_covar=1e-6`` above 0.4 and on RSTPReid). Constant losses
    carry no evidence: every pair gets probability 1.

    Args:
        losses (np.ndarray): (N,) per-pair losses.

    Returns:
        np.ndarray: (N,) float64 probabilities of being clean.
    """
    losses = np.asarray(losses, dtype=np.float64).ravel()
    lo, hi = losses.min(), losses.max()
    if hi == lo:
        return np.ones_like(losses)
    x = (losses - lo) / (hi - lo)
    params = fit_gmm_1d(x, max_iter=max_iter, tol=tol, reg_covar=reg_covar)
    return gmm_posterior(x, params)[:, int(np.argmin(params['means']))]


def split_clean(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """RDE's ``split_prob``: clean where ``prob > threshold``.

    When every probability exceeds the threshold, the threshold becomes the
    ``N // 100``-th smallest probability, so about 1 % of the pairs are still
    called noisy (rule from XLearning-SCU/2021-NeurIPS-NCR).

    Returns:
        np.ndarray: (N,) bool.
    """
    prob = np.asarray(prob, dtype=np.float64)
    if prob.min() > threshold:
        threshold = np.sort(prob)[len(prob) // 100]
    return prob > threshold


def consensus_division(
    clean_a: np.ndarray, clean_b: np.ndarray, rng: Optional[np.random.Generator] = None
) -> np.ndarray:
    """Pairs both embeddings call clean are clean; a disagreement is a coin flip.

    ``do_train`` of ``QinYang79/RDE:2024-CVPR-RDE/processor/processor.py``
    (there with ``torch.randint``; here with ``rng`` for reproducibility).

    Returns:
        np.ndarray: (N,) float32 weights, 1 = clean, 0 = noisy.
    """
    votes = np.asarray(clean_a, dtype=np.int64) + np.asarray(clean_b, dtype=np.int64)
    rng = np.random.default_rng() if rng is None else rng
    split = votes == 1
    votes[split] += rng.integers(0, 2, size=int(split.sum()))
    return (votes > 1).astype(np.float32)


def division_quality(called_clean: np.ndarray, is_clean: np.ndarray) -> Dict[str, float]:
    """Precision / recall of the pairs called clean against the true correspondence.

    Args:
        called_clean (np.ndarray): (N,) bool-like division (1 = called clean).
        is_clean (np.ndarray): (N,) bool-like truth (1 = the caption belongs
            to the image).

    Returns:
        dict: ``precision`` (share of called-clean pairs that are clean; NaN
        when none is called clean), ``recall`` (share of clean pairs called
        clean; NaN without clean pairs), ``called_clean_ratio`` and
        ``noisy_ratio`` (truth).
    """
    called = np.asarray(called_clean).astype(bool).ravel()
    truth = np.asarray(is_clean).astype(bool).ravel()
    if called.shape != truth.shape:
        raise ValueError(f'division {called.shape} and truth {truth.shape} differ in length')
    hits = float((called & truth).sum())
    return {
        'precision': hits / called.sum() if called.any() else float('nan'),
        'recall': hits / truth.sum() if truth.any() else float('nan'),
        'called_clean_ratio': float(called.mean()),
        'noisy_ratio': float(1.0 - truth.mean()),
    }
