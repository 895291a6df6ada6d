# Copyright (c) tpr_mm contributors. All rights reserved.
"""Dataset items of one split: the identity labels shown and one item per view.

Pure functions behind :meth:`BaseTextReIDDataset.load_data_list`.
"""

from typing import List, Sequence, Tuple

import numpy as np
from mmengine.fileio import get_file_backend

IDENTITY_MODES = ('keep', 'drop', 'scramble')


def shown_identities(true_pids: np.ndarray, identity: str, seed: int) -> np.ndarray:
    """Identity labels the dataset exposes for each image.

    Args:
        true_pids (np.ndarray): (num_images,) int64 true identity of each image.
        identity (str): ``'keep'`` the true labels, ``'drop'`` them (all -1,
            weakly supervised training) or ``'scramble'`` them (a fixed random
            permutation over images, a control).
        seed (int): Seed of the ``'scramble'`` permutation.

    Returns:
        np.ndarray: (num_images,) int64 labels.
    """
    if identity == 'keep':
        return true_pids
    if identity == 'drop':
        return np.full_like(true_pids, -1)
    if identity == 'scramble':
        return true_pids[np.random.default_rng(seed).permutation(len(true_pids))]
    raise ValueError(f'identity must be one of {IDENTITY_MODES}, got {identity!r}')


def expand_items(
    records: Sequence,
    shown_pids: np.ndarray,
    modality: str,
    img_prefix: str,
    keep_raw_ids: bool,
) -> Tuple[List[dict], np.ndarray]:
    """One item per image (``'image'``) or per caption (``'pair'``, ``'text'``).

    Args:
        records (Sequence): Parsed annotation records (``raw_id``, ``path``,
            ``captions``) of the split, in image order.
        shown_pids (np.ndarray): (num_images,) labels from :func:`shown_identities`.
        modality (str): ``'pair'``, ``'image'`` or ``'text'`` (no image path).
        img_prefix (str): Image root joined to each record's path.
        keep_raw_ids (bool): Expose the annotation's ``raw_id`` (else -1).

    Returns:
        tuple: the items (dicts with ``pid``, ``image_id``, ``raw_id``,
        ``modality``, and ``img_path`` / ``caption`` / ``caption_id`` as the
        view has them) and (num_items,) int64 image index of each item.
    """
    join = get_file_backend(img_prefix).join_path  # one backend lookup, not one per image
    data_list: List[dict] = []
    item_image: List[int] = []
    caption_id = 0
    for image_id, rec in enumerate(records):
        base = {
            'pid': int(shown_pids[image_id]),
            'image_id': image_id,
            'raw_id': rec.raw_id if keep_raw_ids else -1,
            'modality': modality,
        }
        if modality != 'text':
            base['img_path'] = join(img_prefix, rec.path)
        if modality == 'image':
            data_list.append(base)
            item_image.append(image_id)
            continue
        for caption in rec.captions:
            data_list.append(dict(base, caption=caption, caption_id=caption_id))
            item_image.append(image_id)
            caption_id += 1
    return data_list, np.asarray(item_image, dtype=np.int64)
