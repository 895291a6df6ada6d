# Copyright (c) tpr_mm contributors. All rights reserved.
"""Distributed helpers shared by models and engine hooks.

Gathering row tensors of different lengths from every rank.
"""

import torch
import torch.distributed as torch_dist
from mmengine.dist import get_world_size


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
