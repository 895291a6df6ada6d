# Copyright (c) tpr_mm contributors. All rights reserved.
"""Distributed helpers shared by models, engine hooks and metrics.

Gathering row tensors of different lengths from every rank, and putting rows
gathered from sharded loaders back in dataset order; running a step on rank 0
and sending its result, or its failure, to every rank.
"""

from typing import Callable, List, Sequence

import numpy as np
import torch
import torch.distributed as torch_dist
from mmengine.dist import broadcast_object_list, get_rank, get_world_size


def broadcast_from_rank0(compute: Callable[[], Sequence], size: int, what: str) -> List:
    """``compute()`` on rank 0 only; its ``size`` items on every rank.

    A bare ``broadcast_object_list`` after a rank-0-only step hangs the other
    ranks until the process-group timeout when that step raises (rank 0 dies
    before the broadcast). Here rank 0 sends the failure instead and raises
    its own error; every other rank raises a ``RuntimeError`` quoting it.

    Args:
        compute (callable): Returns a sequence of ``size`` picklable items.
        size (int): Number of items ``compute`` returns.
        what (str): What is computed, for the other ranks' error message.

    Returns:
        list: The ``size`` items, on every rank.
    """
    if get_world_size() == 1:
        return list(compute())
    payload = [None] * (size + 1)  # the last slot carries rank 0's error, if any
    if get_rank() == 0:
        try:
            payload = [*compute(), None]
        except Exception as err:
            broadcast_object_list([None] * size + [f'{type(err).__name__}: {err}'], src=0)
            raise
    broadcast_object_list(payload, src=0)
    if payload[-1] is not None:
        raise RuntimeError(f'{what} failed on rank 0: {payload[-1]}')
    return payload[:-1]


def all_gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` of every rank along dim 0, in rank order.

    Unlike :func:`torch.distributed.all_gather`, ranks may hold different
    numbers of rows (a last, shorter batch; an unpadded sampler): rows are
    padded to the longest rank and the padding is dropped again.

    Args:
        tensor (Tensor): (n_r, ...) rows of this rank.

    Returns:
        Tensor: (sum_r n_r, ...) on every rank; ``tensor`` itself when not
        distributed.
    """
    world_size = get_world_size()
    if world_size == 1:
        return tensor
    size = torch.tensor([tensor.shape[0]], device=tensor.device, dtype=torch.long)
    sizes = [torch.zeros_like(size) for _ in range(world_size)]
    torch_dist.all_gather(sizes, size)
    sizes = [int(s.item()) for s in sizes]
    longest = max(sizes)
    padded = tensor.new_zeros((longest, *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    chunks = [torch.empty_like(padded) for _ in range(world_size)]
    torch_dist.all_gather(chunks, padded.contiguous())
    return torch.cat([chunk[:n] for chunk, n in zip(chunks, sizes)], dim=0)


def gather_sample_index(
    sample_idx: Sequence[int], n: int, device: torch.device, owner: str, missing: str
) -> np.ndarray:
    """Every rank's ``sample_idx`` (in :func:`all_gather_rows` order), checked to cover ``0..n-1``.

    Args:
        sample_idx (Sequence[int]): This rank's dataset indices, one per row.
        n (int): Dataset size.
        device (torch.device): Device of the gather (the rows' device).
        owner (str): Who asks, for the errors.
        missing (str): Completes ``'<owner>: <k> of <n> '`` when ``k`` items
            have no row, e.g. ``'items were not encoded; ...'``.

    Returns:
        np.ndarray: (M,) int64, M >= n (samplers may pad with repeats).
    """
    index = torch.tensor(list(sample_idx), dtype=torch.long, device=device)
    index = all_gather_rows(index).cpu().numpy()
    if index.size and (index.min() < 0 or index.max() >= n):
        raise IndexError(f'{owner}: sample_idx outside 0..{n - 1}')
    uncovered = n - np.unique(index).size
    if uncovered:
        raise RuntimeError(f'{owner}: {uncovered} of {n} {missing}')
    return index


def rows_in_dataset_order(rows: torch.Tensor, index: np.ndarray, n: int, dtype) -> np.ndarray:
    """Gather ``rows`` of every rank and put row ``i`` at ``index[i]``.

    Args:
        rows (Tensor): (m_r, ...) this rank's rows, in its ``sample_idx`` order.
        index (np.ndarray): (M,) from :func:`gather_sample_index`.
        n (int): Dataset size.
        dtype: NumPy dtype of the result.

    Returns:
        np.ndarray: (n, ...) on every rank; a padded repeat writes the same
        item's row again.
    """
    gathered = all_gather_rows(rows).cpu().numpy()
    ordered = np.zeros((n, *gathered.shape[1:]), dtype=dtype)
    ordered[index] = gathered
    return ordered
