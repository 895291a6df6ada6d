# Copyright (c) tpr_mm contributors. All rights reserved.
"""DataLoader workers seeded per epoch (exact resume) that die with their parent."""

import ctypes
import multiprocessing
import os
import random
import signal
import sys
import warnings
from functools import partial
from typing import Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, get_worker_info

__all__ = ['EpochWorkerSeeder', 'worker_seeds', 'exit_with_parent', 'attach_epoch_seeder']

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def worker_seeds(seed: int, epoch: int, rank: int, worker_id: int) -> Tuple[int, int, int]:
    """Python, NumPy and PyTorch seeds of one worker in one epoch.

    A pure function of its arguments (NumPy's ``SeedSequence`` mixes them, so
    e.g. (epoch 1, worker 0) and (epoch 0, worker 1) do not collide the way
    ``seed + epoch + worker_id`` would).

    Returns:
        tuple: ``(python_seed, numpy_seed < 2**32, torch_seed < 2**64)``.
    """
    entropy = [int(seed) % 2**64, int(epoch), int(rank), int(worker_id)]
    words = np.random.SeedSequence(entropy).generate_state(3, dtype=np.uint64)
    return int(words[0]), int(words[1]) % 2**32, int(words[2])


def exit_with_parent() -> None:
    """Make this (worker) process die as soon as the process that started it dies.

    On Linux the kernel sends SIGKILL on the parent's death
    (``prctl(PR_SET_PDEATHSIG)``); a parent that is already gone (died before
    the call) ends this process at once. Without it, a SIGKILLed trainer left
    its persistent workers running (each holding a copy of the dataset).
    Elsewhere PyTorch's own check of the parent pid (every 5 s while idle)
    remains the only guard.
    """
    if sys.platform.startswith('linux'):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(
                ctypes.c_int(_PR_SET_PDEATHSIG), ctypes.c_ulong(int(signal.SIGKILL)), 0, 0, 0
            )
        except (OSError, AttributeError):  # no prctl (e.g. a static or non-glibc build)
            pass
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:
        os._exit(1)


class EpochWorkerSeeder:
    """``worker_init_fn`` that reseeds every worker at the start of every epoch.

    PyTorch seeds a worker once, when it starts. With
    ``persistent_workers=True`` a worker then lives through all epochs, so the
    augmentation drawn in epoch ``e`` depended on how many epochs the worker
    had already served: a run resumed at epoch ``e`` (fresh workers) drew
    different augmentations from an uninterrupted one. Here each worker seeds
    Python's ``random``, NumPy's global generator and PyTorch from
    :func:`worker_seeds` ``(seed, epoch, rank, worker_id)`` when it starts and
    again at its first batch of each new epoch, so the stream depends on the
    epoch only and needs no state in the checkpoint.

    The main process announces the epoch with :meth:`set_epoch` before
    iterating (:class:`~tpr_mm.engine.hooks.RNGStateHook` does it for the
    training loader); the value lives in shared memory that the workers read
    before each batch. The per-batch check uses the dataset's
    ``__getitems__`` batch-fetch entry point (installed on the worker's own
    copy of the dataset, wrapping one the dataset may define), so it needs a
    map-style dataset and a loader with a batch size (every tpr_mm config has
    both); otherwise workers are seeded when they start only.

    On Linux a worker is killed when the *thread* that started it ends
    (``PR_SET_PDEATHSIG``): iterate such a loader from the main thread or a
    thread that outlives the iteration (MMEngine's loops do).

    Every worker also calls :func:`exit_with_parent`.

    Args:
        seed (int, optional): Base seed (the runner's); None only installs
            :func:`exit_with_parent` and keeps PyTorch's own seeding.
        rank (int): Distributed rank of the main process.
        disable_subprocess_warning (bool): Silence warnings in workers other
            than worker 0 (MMEngine's option of the same name).
    """

    def __init__(
        self, seed: Optional[int], rank: int = 0, disable_subprocess_warning: bool = False
    ) -> None:
        self.seed = None if seed is None else int(seed)
        self.rank = int(rank)
        self.disable_subprocess_warning = bool(disable_subprocess_warning)
        # Created before the workers start, so they all see the same memory.
        self._epoch = torch.zeros(1, dtype=torch.int64).share_memory_()
        self._worker_id: Optional[int] = None
        self._seeded_epoch: Optional[int] = None

    @property
    def epoch(self) -> int:
        return int(self._epoch[0])

    def set_epoch(self, epoch: int) -> None:
        """Announce the epoch about to be iterated (main process, between epochs)."""
        self._epoch[0] = int(epoch)

    def __call__(self, worker_id: int) -> None:
        exit_with_parent()
        if self.disable_subprocess_warning and worker_id != 0:
            warnings.simplefilter('ignore')
        if self.seed is None:
            return
        self._worker_id = worker_id
        self._reseed()
        dataset = get_worker_info().dataset
        try:
            dataset.__getitems__ = partial(
                self._fetch, dataset, getattr(dataset, '__getitems__', None)
            )
        except AttributeError:  # e.g. a dataset with __slots__: seeded at start only
            warnings.warn(
                f'{type(dataset).__name__} takes no attributes; DataLoader worker '
                f'{worker_id} is seeded when it starts only, not at every epoch',
                stacklevel=1,
            )

    def _reseed(self) -> None:
        epoch = self.epoch
        py_seed, np_seed, torch_seed = worker_seeds(self.seed, epoch, self.rank, self._worker_id)
        random.seed(py_seed)
        np.random.seed(np_seed)
        torch.manual_seed(torch_seed)
        self._seeded_epoch = epoch

    def _fetch(self, dataset, inner, indices):
        if self.epoch != self._seeded_epoch:  # first batch of a new epoch
            self._reseed()
        if inner is not None:
            return inner(indices)
        return [dataset[i] for i in indices]


def attach_epoch_seeder(
    loader: DataLoader, seed: Optional[int], rank: int, disable_subprocess_warning: bool = False
) -> DataLoader:
    """Give a multi-worker ``loader`` an :class:`EpochWorkerSeeder` (in place).

    The loader also gets its own generator for the per-iterator base seed
    PyTorch draws (and the seeder then overrides): drawn from the global
    generator it would shift the training stream of a resumed run, whose
    persistent workers start one epoch later than an uninterrupted run's.
    A loader without workers is returned unchanged.
    """
    if loader.num_workers == 0:
        return loader
    loader.worker_init_fn = EpochWorkerSeeder(seed, rank, disable_subprocess_warning)
    if seed is not None and loader.generator is None:
        loader.generator = torch.Generator()
        loader.generator.manual_seed(int(seed) % 2**63)
    return loader
