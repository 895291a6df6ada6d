# Copyright (c) tpr_mm contributors. All rights reserved.
"""Encode a dataset view (pairs, images or captions) in dataset order.

Helpers of :class:`PseudoLabelHook`: the clustering pass encodes every unique
image once (the ``'image'`` view) and every caption once (the ``'text'``
view), then gathers them per training pair through ``image_id`` /
``caption_id``, instead of one image forward per caption.
"""

from typing import Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import is_main_process
from mmengine.runner.amp import autocast
from tqdm import tqdm

from tpr_mm.utils.dist import gather_sample_index, rows_in_dataset_order

_FEAT_KEYS = {'img': 'img_feats', 'text': 'text_feats'}


@torch.no_grad()
def encode_view(
    model, loader, keys: Sequence[str], fp16: bool = False, progress: bool = True, desc: str = ''
) -> Dict[str, np.ndarray]:
    """Unit features of every item of ``loader.dataset``, in dataset order.

    Args:
        model: The retriever (not wrapped); ``extract_feat`` is called with
            only the inputs named in ``keys``.
        loader (DataLoader): Unshuffled loader; under DDP every rank encodes
            its shard and the rows are gathered by ``sample_idx``.
        keys (Sequence[str]): ``'img'`` and/or ``'text'``.
        fp16 (bool): Autocast while encoding.
        progress (bool): tqdm progress bar on the main process.
        desc (str): Progress-bar label.

    Returns:
        dict[str, np.ndarray]: ``key -> (N, D)`` float32 unit rows on every
        rank, ``N = len(loader.dataset)``.
    """
    was_training = model.training
    model.eval()
    idx, out = [], {k: [] for k in keys}
    bar = tqdm(
        total=len(loader),
        desc=desc,
        leave=False,
        dynamic_ncols=True,
        disable=not (progress and is_main_process()),
    )
    for batch in loader:
        data = model.data_preprocessor(batch, False)
        inputs = {k: data['inputs'][k] for k in keys}
        with autocast(enabled=fp16):
            feats = model.extract_feat(inputs)
        for k in keys:
            out[k].append(F.normalize(feats[_FEAT_KEYS[k]].float(), dim=1))
        idx.extend(int(s.sample_idx) for s in data['data_samples'])
        bar.update(1)
    bar.close()
    model.train(was_training)
    n = len(loader.dataset)
    missing = 'items were not encoded; the clustering sampler must cover the whole dataset'
    index = gather_sample_index(idx, n, out[keys[0]][0].device, desc, missing)
    # Samplers may pad with repeated indices; any copy of a row is the same item.
    return {k: rows_in_dataset_order(torch.cat(out[k]), index, n, np.float32) for k in keys}


def view_ids(dataset, key: str) -> np.ndarray:
    """(N,) int64 ``key`` (``'image_id'`` / ``'caption_id'``) of every item,
    read from ``get_data_info`` (annotations only, no file is opened)."""
    ids = np.empty(len(dataset), dtype=np.int64)
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        if key not in info:
            raise KeyError(
                f'{type(dataset).__name__} item {i} has no {key!r}; cannot map the '
                'clustering views to training pairs'
            )
        ids[i] = int(info[key])
    return ids


def gather_by_id(feats: np.ndarray, view_id: np.ndarray, pair_id: np.ndarray, what: str):
    """Rows of ``feats`` (one per view item with id ``view_id``) for every
    pair id in ``pair_id``; raises if a pair's id is not in the view."""
    lookup = np.full(int(max(view_id.max(initial=-1), pair_id.max(initial=-1))) + 1, -1)
    lookup[view_id] = np.arange(len(view_id))
    pos = lookup[pair_id]
    if (pos < 0).any():
        bad = int(np.flatnonzero(pos < 0)[0])
        raise RuntimeError(
            f'training pair {bad}: its {what} {int(pair_id[bad])} is not in the view'
        )
    return feats[pos]
