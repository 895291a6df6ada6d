# Copyright (c) tpr_mm contributors. All rights reserved.
"""Random-number-generator states in checkpoints, for exact resumption."""

import random
from typing import List, Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log

from tpr_mm.datasets.samplers import EpochWorkerSeeder
from tpr_mm.registry import HOOKS

__all__ = ['RNGStateHook', 'capture_rng_state', 'restore_rng_state']


def capture_rng_state() -> dict:
    """This process's Python, NumPy, PyTorch (and CUDA) generator states.

    Only ints, floats, tuples, lists, ``None`` and tensors are stored, so the
    state loads under ``torch.load(weights_only=True)`` without allowlisting.
    """
    version, internal, gauss_next = random.getstate()
    _, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state = dict(
        python=(version, tuple(internal), gauss_next),
        numpy=dict(
            key=torch.from_numpy(keys.astype(np.int64)),
            pos=int(pos),
            has_gauss=int(has_gauss),
            cached_gaussian=float(cached),
        ),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    version, internal, gauss_next = state['python']
    random.setstate((version, tuple(internal), gauss_next))
    npy = state['numpy']
    np.random.set_state(
        (
            'MT19937',
            npy['key'].numpy().astype(np.uint32),
            npy['pos'],
            npy['has_gauss'],
            npy['cached_gaussian'],
        )
    )
    torch.set_rng_state(state['torch'].cpu())
    cuda = state.get('cuda')
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Save the generators' states with each checkpoint; restore them on resume.

    MMEngine reseeds at start-up but does not store generator states, so a
    resumed run draws different augmentations / dropout masks than an
    uninterrupted one. This hook

    * writes ``checkpoint['rng_state'] = dict(states=[state of rank 0, ...])``
      on every save (all ranks' states, gathered at the end of each epoch);
    * restores this rank's state at ``before_train`` of a resumed run (not
      when ``load_from`` merely initialises weights);
    * makes validation RNG-neutral: the state is captured at ``before_val``
      and put back at ``after_val_epoch`` (before the best checkpoint is
      written), so the training stream does not depend on how often one
      validates — which also makes the epoch checkpoint, saved before
      validation, describe the exact state the next epoch starts from;
    * announces each training epoch to the loader's
      :class:`~tpr_mm.datasets.samplers.EpochWorkerSeeder` (``before_train_epoch``),
      so DataLoader workers, persistent or not, draw an epoch's augmentations
      from seeds of (seed, epoch, rank, worker id): nothing of the workers'
      generators needs storing.

    :class:`~tpr_mm.engine.runner.TPRRunner` registers it automatically.
    Iteration-based checkpoints under DDP store rank 0's state only (gathering
    would cost a collective per iteration); every rank then restores it.
    """

    priority = 'VERY_HIGH'  # before CheckpointHook (VERY_LOW) in after_val_epoch

    def __init__(self) -> None:
        self._gathered: Optional[List[dict]] = None
        self._gathered_iter = -1
        self._loaded: Optional[dict] = None
        self._val_state: Optional[dict] = None

    def before_train_epoch(self, runner) -> None:
        seeder = getattr(runner.train_dataloader, 'worker_init_fn', None)
        if isinstance(seeder, EpochWorkerSeeder):
            seeder.set_epoch(runner.epoch)

    def after_train_epoch(self, runner) -> None:
        _, world_size = get_dist_info()
        if world_size > 1:  # a collective: every rank runs this hook
            self._gathered = all_gather_object(capture_rng_state())
            self._gathered_iter = runner.iter

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._gathered is not None and self._gathered_iter == runner.iter:
            states = self._gathered
        else:
            states = [capture_rng_state()]
        checkpoint['rng_state'] = dict(states=states)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        self._loaded = checkpoint.get('rng_state')

    def before_train(self, runner) -> None:
        loaded, self._loaded = self._loaded, None
        if not getattr(runner, '_resume', False):
            return
        if loaded is None:
            if getattr(runner, '_has_loaded', False):
                print_log(
                    'the resumed checkpoint stores no RNG state (written without '
                    'RNGStateHook); the run continues but is not bit-exact',
                    logger='current',
                    level=30,
                )
            return
        rank, world_size = get_dist_info()
        states = loaded['states']
        if len(states) != world_size:
            print_log(
                f'the checkpoint holds RNG states of {len(states)} process(es), this run '
                f'has {world_size}; reusing them cyclically (not bit-exact)',
                logger='current',
                level=30,
            )
        restore_rng_state(states[rank % len(states)])
        print_log('restored Python/NumPy/PyTorch RNG states from the checkpoint', logger='current')

    def before_val(self, runner) -> None:
        self._val_state = capture_rng_state()

    def after_val_epoch(self, runner, metrics: Optional[dict] = None) -> None:
        if self._val_state is not None:
            restore_rng_state(self._val_state)

    def after_val(self, runner) -> None:
        if self._val_state is not None:
            restore_rng_state(self._val_state)
            self._val_state = None
