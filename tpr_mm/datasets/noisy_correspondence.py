# Copyright (c) tpr_mm contributors. All rights reserved.
"""Synthetic noisy image-text correspondence: captions shuffled among a fraction of pairs.

Follows RDE's ``inject_noisy_correspondence``
(``QinYang79/RDE:2024-CVPR-RDE/datasets/bases.py``): a permutation ``perm`` of
the training pairs gives pair ``i`` the caption of pair ``perm[i]``; pairs
with ``perm[i] == i`` keep their true caption and count as clean. RDE ships
these permutations as ``noiseindex/<DATASET>_<rate>.npy`` (one int64 array
per dataset and rate, length = number of training pairs).
"""

import logging
import os.path as osp
from typing import List, Optional

import numpy as np
from mmengine.logging import print_log

__all__ = [
    'noisy_permutation',
    'load_noisy_permutation',
    'resolve_noisy_permutation',
    'apply_caption_permutation',
]


def noisy_permutation(num_pairs: int, noisy_rate: float, seed: int = 1) -> np.ndarray:
    """RDE's generator: shuffle the captions of ``int(noisy_rate * num_pairs)`` random pairs.

    Draws from ``np.random.RandomState(seed)`` in RDE's order (pick the pairs
    by one shuffle of all positions, permute them by a second shuffle). With
    ``seed=1`` (RDE's ``set_seed(1)``) the result equals RDE's shipped
    ``noiseindex`` files.

    Args:
        num_pairs (int): Number of training (image, caption) pairs.
        noisy_rate (float): Fraction of pairs whose captions are shuffled, in [0, 1].
        seed (int): Seed of the legacy NumPy generator. Defaults to 1.

    Returns:
        np.ndarray: (num_pairs,) int64 permutation; identity where not shuffled.
    """
    if not 0.0 <= noisy_rate <= 1.0:
        raise ValueError(f'noisy_rate must be in [0, 1], got {noisy_rate}')
    perm = np.arange(num_pairs, dtype=np.int64)
    if noisy_rate == 0:
        return perm
    rng = np.random.RandomState(seed)
    order = np.arange(num_pairs)
    rng.shuffle(order)
    chosen = order[: int(noisy_rate * num_pairs)]
    shuffled = np.array(chosen)
    rng.shuffle(shuffled)
    perm[chosen] = shuffled
    return perm


def load_noisy_permutation(path: str, num_pairs: int) -> np.ndarray:
    """Read and check a permutation file in RDE's format (``np.save`` of an int array).

    Raises:
        ValueError: the array is not a 1-D integer permutation of
            ``0..num_pairs-1`` (message names the file and what is wrong).
    """
    try:
        perm = np.load(path, allow_pickle=False)
    except Exception as exc:  # corrupt file, pickled object array...
        raise ValueError(f'noisy_file {path!r}: not a readable .npy array ({exc})') from exc
    if not isinstance(perm, np.ndarray):  # an .npz archive
        names = list(perm.files)
        perm.close()
        raise ValueError(
            f'noisy_file {path!r}: an .npz archive (arrays {names}), not one array; '
            'write the permutation with np.save'
        )
    if perm.ndim != 1 or not np.issubdtype(perm.dtype, np.integer):
        raise ValueError(
            f'noisy_file {path!r}: expected a 1-D integer array, got shape '
            f'{perm.shape} dtype {perm.dtype}'
        )
    if perm.size != num_pairs:
        raise ValueError(
            f'noisy_file {path!r}: has {perm.size} entries but the training split has '
            f'{num_pairs} pairs; the file belongs to another dataset or split'
        )
    perm = perm.astype(np.int64)
    seen = np.zeros(num_pairs, dtype=bool)
    in_range = (perm >= 0) & (perm < num_pairs)
    seen[perm[in_range]] = True
    if not in_range.all() or not seen.all():
        bad = int(np.flatnonzero(~in_range)[0]) if not in_range.all() else -1
        where = f'entry {bad} = {perm[bad]} is out of range' if bad >= 0 else 'values repeat'
        raise ValueError(f'noisy_file {path!r}: not a permutation of 0..{num_pairs - 1} ({where})')
    return perm


def check_noisy_rate(path: str, noisy: int, num_pairs: int, noisy_rate: float) -> None:
    """A permutation file must carry the requested rate (else runs are mislabelled).

    RDE's generator shuffles ``int(noisy_rate * num_pairs)`` pairs among
    themselves, so a few of them map to themselves; a file is accepted when
    its number of moved pairs is within ``max(5, 1 %)`` of that count.

    Raises:
        ValueError: the file's rate is another one (names file and both rates).
    """
    expected = int(noisy_rate * num_pairs)
    if abs(noisy - expected) > max(5, 0.01 * num_pairs):
        raise ValueError(
            f'noisy_file {path!r}: {noisy} of {num_pairs} pairs are shuffled (rate '
            f'{noisy / max(num_pairs, 1):.3f}) but noisy_rate is {noisy_rate}; use the file of '
            "that rate or set noisy_rate to the file's"
        )


def resolve_noisy_permutation(
    num_pairs: int, noisy_rate: float, noisy_file: Optional[str], seed: int, owner: str
) -> np.ndarray:
    """The permutation from ``noisy_file`` when it exists, else the seeded generator."""
    if noisy_file and osp.isfile(noisy_file):
        perm = load_noisy_permutation(noisy_file, num_pairs)
        source = f'read from {noisy_file}'
    else:
        if noisy_file:
            print_log(
                f'{owner}: noisy_file {noisy_file!r} not found; generating the noisy '
                f'correspondence with noisy_seed={seed} instead',
                logger='current',
                level=logging.WARNING,
            )
        perm = noisy_permutation(num_pairs, noisy_rate, seed)
        source = f'generated with noisy_seed={seed}'
    noisy = int((perm != np.arange(num_pairs)).sum())
    if noisy_file and osp.isfile(noisy_file):
        check_noisy_rate(noisy_file, noisy, num_pairs, noisy_rate)
    print_log(
        f'{owner}: noisy correspondence {source}: {noisy} of {num_pairs} pairs carry another '
        f"pair's caption (requested rate {noisy_rate})",
        logger='current',
    )
    return perm


def apply_caption_permutation(data_list: List[dict], perm: np.ndarray) -> List[dict]:
    """Item ``i`` keeps its image and identity and takes the caption of item ``perm[i]``.

    Adds ``is_clean`` (bool, ``perm[i] == i``) to every item, for measuring a
    method's clean/noisy division only; ``caption_id`` follows the caption.
    """
    out = []
    for i, item in enumerate(data_list):
        src = data_list[int(perm[i])]
        new = dict(item, caption=src['caption'], is_clean=bool(perm[i] == i))
        if 'caption_id' in src:
            new['caption_id'] = src['caption_id']
        out.append(new)
    return out
