# Copyright (c) tpr_mm contributors. All rights reserved.
"""MidEpochResumeTrainLoop: what it refuses (the exact resume is in test_reliability)."""

import logging
from types import SimpleNamespace

import pytest
from torch.utils.data import DataLoader

from tpr_mm.engine.hooks import ConsensusDivisionHook, PseudoLabelHook
from tpr_mm.registry import LOOPS


class _EpochStateHook:
    recomputes_epoch_state = True


def _loop(hooks, iters_done: int, epoch: int = 0):
    runner = SimpleNamespace(hooks=hooks, logger=logging.getLogger('test'), calls=[])
    runner.call_hook = lambda name, **kw: runner.calls.append(name)
    loader = DataLoader(list(range(10)), batch_size=2)  # 5 iterations per epoch
    loop = LOOPS.build(
        dict(type='MidEpochResumeTrainLoop', max_epochs=2, dataloader=loader),
        default_args=dict(runner=runner),
    )
    loop._iter, loop._epoch = iters_done, epoch  # what Runner.resume sets
    return loop, runner


def test_mid_epoch_resume_with_epoch_state_hook_is_refused():
    loop, runner = _loop([_EpochStateHook()], iters_done=7, epoch=1)
    with pytest.raises(RuntimeError, match=r'batch 2 of epoch 2\) with _EpochStateHook'):
        loop.run()
    assert runner.calls == []  # refused before any hook ran


def test_hooks_with_per_epoch_state_declare_it():
    # Both keep their epoch state in the checkpoint (head buffers).
    assert PseudoLabelHook.recomputes_epoch_state is False
    assert ConsensusDivisionHook.recomputes_epoch_state is False


def test_iteration_count_that_does_not_fit_the_loader_is_refused():
    loop, _ = _loop([], iters_done=12, epoch=1)  # 12 - 5 = 7 > 5 batches in an epoch
    with pytest.raises(RuntimeError, match='another dataset size or batch size'):
        loop.run()


class _Reached(Exception):
    pass


def test_epoch_boundary_resume_skips_nothing():
    loop, runner = _loop([_EpochStateHook()], iters_done=5, epoch=1)

    def call_hook(name, **kw):
        raise _Reached(name)

    runner.call_hook = call_hook
    with pytest.raises(_Reached, match='before_train'):  # got past the checks
        loop.run()
    assert not loop.resumed_mid_epoch
