# Copyright (c) tpr_mm contributors. All rights reserved.
"""Per-pair losses of every training pair, in dataset order (RDE's loss pass).

Helpers of :class:`~tpr_mm.engine.hooks.ConsensusDivisionHook`: the pass runs
the model in eval mode over the training pairs, gathers each pair's loss under
every embedding across ranks and puts them in dataset order by ``sample_idx``.
Source: ``get_loss`` of ``QinYang79/RDE:2024-CVPR-RDE/processor/processor.py``.
"""

import contextlib
from typing import Dict, Iterator, Optional, Tuple

import numpy as np
import torch
from mmengine.dist import is_main_process
from mmengine.runner.amp import autocast
from tqdm import tqdm

from tpr_mm.utils.dist import gather_sample_index, rows_in_dataset_order

# Added to the epoch the samplers and worker seeders see during the loss pass.
PASS_EPOCH_OFFSET = 1_000_003


@contextlib.contextmanager
def division_pass_epoch(loader, epoch: int) -> Iterator[None]:
    """Give the loss pass its own shuffle (and augmentation draws) for ``epoch``.

    RDE's loss pass and training pass are two iterations of one shuffling
    PyTorch ``DataLoader``, so they see independent orders, i.e. different
    in-batch negatives. MMEngine's samplers shuffle by ``seed + epoch``, which
    would give both passes of an epoch the same batches; during the pass the
    sampler and the worker seeder (anything with ``set_epoch``) see
    ``PASS_EPOCH_OFFSET + epoch`` instead, and ``epoch`` again afterwards, so
    training draws exactly what it would draw without the pass.
    """
    parts = [getattr(loader, 'sampler', None), getattr(loader, 'worker_init_fn', None)]
    parts = [p for p in parts if callable(getattr(p, 'set_epoch', None))]
    for part in parts:
        part.set_epoch(PASS_EPOCH_OFFSET + epoch)
    try:
        yield
    finally:
        for part in parts:
            part.set_epoch(epoch)


@torch.no_grad()
def per_pair_losses(
    model, loader, fp16: bool = False, progress: bool = True
) -> Tuple[Dict[str, np.ndarray], Optional[np.ndarray]]:
    """Per-pair losses of every embedding in dataset order, and the truth if known.

    Args:
        model: The retriever (not wrapped), with ``per_sample_losses``.
        loader (DataLoader): Covers every training pair (under DDP, its
            shard); repeats from padding are allowed, ``drop_last`` is not.
        fp16 (bool): Autocast during the pass.
        progress (bool): tqdm progress bar on the main process.

    Returns:
        tuple: ``{name: (N,) float64}`` and (N,) bool ``is_clean`` (or None
        unless every item carries it), on every rank.
    """
    was_training = model.training
    model.eval()
    index, losses, truth = [], {}, []
    bar = tqdm(
        total=len(loader),
        desc='division: per-pair losses',
        leave=False,
        dynamic_ncols=True,
        disable=not (progress and is_main_process()),
    )
    for batch in loader:
        data = model.data_preprocessor(batch, False)
        samples = data['data_samples']
        with autocast(enabled=fp16):
            out = model.per_sample_losses(data['inputs'], samples)
        for name, value in out.items():
            losses.setdefault(name, []).append(value.detach().float())
        index.extend(int(s.sample_idx) for s in samples)
        truth.extend(int(s.get('is_clean', -1)) for s in samples)
        bar.update(1)
    bar.close()
    model.train(was_training)
    device = next(iter(losses.values()))[0].device
    n = len(loader.dataset)
    missing = 'training pairs got no loss; the loader must cover the whole dataset (no drop_last)'
    index = gather_sample_index(index, n, device, 'ConsensusDivisionHook', missing)
    ordered = {
        name: rows_in_dataset_order(torch.cat(parts), index, n, np.float64)
        for name, parts in losses.items()
    }
    truth = rows_in_dataset_order(torch.tensor(truth, device=device), index, n, np.int64)
    is_clean = truth.astype(bool) if (truth >= 0).all() else None
    return ordered, is_clean
