# Copyright (c) tpr_mm contributors. All rights reserved.
"""Adversarial feature distributions for the clustering tests and benchmark.

Every generator lays samples out like CUHK-PEDES pairs (11,003 identities per
68,126 pairs, ~3.1 images per identity, two captions per image) and returns
(N, D) float32 rows in a random order:

* ``overlap``: identity centres plus isotropic noise of the same norm, so
  neighbourhoods of different identities overlap heavily;
* ``neardup``: identity centres plus noise 1e-3 of their norm (near-duplicate
  features), and 2 % of the samples in one near-identical group;
* ``dominant``: one direction shared by every sample carries 80-99 % of the
  norm, with a per-sample weight (hubness, as CLIP embeddings have).
"""

import numpy as np

DISTRIBUTIONS = ('overlap', 'neardup', 'dominant')


def pair_identities(rng: np.random.Generator, n: int) -> np.ndarray:
    """(N,) identity of each pair, CUHK-PEDES proportions."""
    n_ids = max(1, round(n * 11003 / 68126))
    img_owner = np.repeat(np.arange(n_ids), 1 + rng.poisson(2.1, n_ids))
    pair_img = np.repeat(np.arange(len(img_owner)), 2)
    if len(pair_img) < n:
        pair_img = np.concatenate([pair_img, rng.integers(0, len(img_owner), n - len(pair_img))])
    return img_owner[np.sort(pair_img[:n])]


def make_distribution(name: str, n: int, dim: int = 512, seed: int = 0) -> np.ndarray:
    """(N, D) float32 features of distribution ``name`` (see module doc)."""
    if name not in DISTRIBUTIONS:
        raise ValueError(f'unknown distribution {name!r}; choose from {DISTRIBUTIONS}')
    rng = np.random.default_rng(seed)
    pid = pair_identities(rng, n)
    centres = rng.standard_normal((int(pid.max()) + 1, dim), dtype=np.float32)
    noise = rng.standard_normal((n, dim), dtype=np.float32)
    if name == 'overlap':
        feats = centres[pid] + noise
    elif name == 'neardup':
        feats = centres[pid] + 1e-3 * noise
        group = rng.random(n) < 0.02
        feats[group] = centres[0] + 1e-3 * noise[group]
    else:
        shared = rng.standard_normal(dim).astype(np.float32)
        shared *= np.sqrt(dim) / np.linalg.norm(shared)
        # A per-sample weight of the shared direction: samples leaning on it
        # more are close to everyone (hubs).
        weight = rng.uniform(1.0, 4.0, (n, 1)).astype(np.float32)
        feats = weight * shared + 0.5 * centres[pid] + 0.5 * noise
    return np.ascontiguousarray(feats[rng.permutation(n)], dtype=np.float32)
