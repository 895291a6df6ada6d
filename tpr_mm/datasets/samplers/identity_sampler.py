# Copyright (c) tpr_mm contributors. All rights reserved.
"""P×K identity sampler: batches of P identities with K items each.

Source: anosorae/IRRA:datasets/sampler.py (``RandomIdentitySampler``).
"""

import math
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Sized

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from tpr_mm.registry import DATA_SAMPLERS


def _item_keys(dataset: Sized) -> tuple:
    """(pids, image_ids) of every item; ``image_id`` falls back to the item index."""
    pids = getattr(dataset, 'pids', None)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    if pids is None:
        pids = [info['pid'] for info in infos]
    image_ids = [info.get('image_id', i) for i, info in enumerate(infos)]
    return np.asarray(pids, dtype=np.int64), np.asarray(image_ids, dtype=np.int64)


@DATA_SAMPLERS.register_module()
class IdentitySampler(Sampler):
    """Yield K consecutive items of each of a shuffled list of identities.

    With the dataloader's ``batch_size = P * K`` every full batch holds P
    identities with K items each, so same-identity supports can be taken from
    the batch (LCR²S ``support_source='batch'``). Within an identity, items
    are picked round-robin over its images in random order, so the K items
    cover as many distinct images as the identity has; an identity with fewer
    than K items repeats items.

    Distributed: every epoch all ranks shuffle the identities with the same
    seed and rank r takes groups r, r + W, ... (the list is padded by wrapping
    so every rank gets the same number of groups); batches are local to a
    rank, so supports never cross ranks.

    Args:
        dataset (Sized): Dataset with ``get_data_info(i)['pid']`` (and
            ``image_id``) or a ``pids`` array. Items with ``pid < 0`` are
            rejected.
        num_instances (int): K, items per identity. Defaults to 4.
        shuffle (bool): Shuffle identities and items. Defaults to True.
        seed (int, optional): Shared seed; synchronised across ranks when None.
        round_up (bool): Pad the identity list so every rank has the same
            number of groups. Defaults to True.
    """

    def __init__(
        self,
        dataset: Sized,
        num_instances: int = 4,
        shuffle: bool = True,
        seed: Optional[int] = None,
        round_up: bool = True,
    ) -> None:
        if num_instances < 1:
            raise ValueError(f'num_instances must be >= 1, got {num_instances}')
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.num_instances = int(num_instances)
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.epoch = 0
        self.round_up = round_up
        pids, image_ids = _item_keys(dataset)
        if len(pids) and pids.min() < 0:
            bad = int(np.flatnonzero(pids < 0)[0])
            raise ValueError(
                f'IdentitySampler: item {bad} of {type(dataset).__name__} has '
                f'pid={int(pids[bad])}; the sampler needs identity labels'
            )
        by_pid: Dict[int, Dict[int, List[int]]] = defaultdict(lambda: defaultdict(list))
        for idx, (pid, img) in enumerate(zip(pids.tolist(), image_ids.tolist())):
            by_pid[pid][img].append(idx)
        self._groups = {p: [imgs[k] for k in sorted(imgs)] for p, imgs in by_pid.items()}
        self._pid_list = sorted(self._groups)
        num_ids = len(self._pid_list)
        if round_up:
            self.groups_per_rank = math.ceil(num_ids / self.world_size)
        else:
            self.groups_per_rank = len(range(self.rank, num_ids, self.world_size))

    def _pick(self, pid: int, gen: torch.Generator) -> List[int]:
        """K items of ``pid``, round-robin over its images in random order."""
        images = self._groups[pid]
        order = (
            torch.randperm(len(images), generator=gen).tolist()
            if self.shuffle
            else list(range(len(images)))
        )
        pools = []
        for i in order:
            items = images[i]
            perm = (
                torch.randperm(len(items), generator=gen).tolist()
                if self.shuffle
                else list(range(len(items)))
            )
            pools.append([items[j] for j in perm])
        flat = []
        depth = max(len(p) for p in pools)
        for level in range(depth):
            flat += [p[level] for p in pools if level < len(p)]
        reps = math.ceil(self.num_instances / len(flat))
        return (flat * reps)[: self.num_instances]

    def __iter__(self) -> Iterator[int]:
        gen = torch.Generator()
        gen.manual_seed(self.seed + self.epoch)
        if self.shuffle:
            order = torch.randperm(len(self._pid_list), generator=gen).tolist()
        else:
            order = list(range(len(self._pid_list)))
        if self.round_up and order:
            total = self.groups_per_rank * self.world_size
            order = (order * math.ceil(total / len(order)))[:total]
        mine = order[self.rank :: self.world_size]
        indices: List[int] = []
        for i in mine:
            indices += self._pick(self._pid_list[i], gen)
        return iter(indices)

    def __len__(self) -> int:
        return self.groups_per_rank * self.num_instances

    def set_epoch(self, epoch: int) -> None:
        """Reshuffle for ``epoch`` (called by ``DistSamplerSeedHook``)."""
        self.epoch = epoch
