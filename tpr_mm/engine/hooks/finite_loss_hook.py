# Copyright (c) tpr_mm contributors. All rights reserved.
"""Stop training at the first non-finite loss, naming the term."""

import math
from typing import Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook

from tpr_mm.registry import HOOKS


class NonFiniteLossError(FloatingPointError):
    """Raised when a loss term is NaN or infinite."""


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Raise :class:`NonFiniteLossError` when any logged loss is NaN or inf.

    It runs before :class:`~mmengine.hooks.CheckpointHook` (higher priority),
    so the iteration that diverged is never checkpointed and the previous
    checkpoint stays the latest one.

    Args:
        interval (int): Check every ``interval`` iterations. Defaults to 1.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, interval: int = 1) -> None:
        self.interval = interval

    def after_train_iter(
        self, runner, batch_idx: int, data_batch=None, outputs: Optional[dict] = None
    ) -> None:
        if not outputs or not self.every_n_train_iters(runner, self.interval):
            return
        values = {
            k: float(v.detach()) if torch.is_tensor(v) else float(v)
            for k, v in outputs.items()
            if 'loss' in k
        }
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if get_world_size() > 1:
            # Decide together: a rank stopping alone would leave the others
            # waiting in the next gradient all-reduce.
            flag = torch.tensor([float(bool(bad))])
            all_reduce(flag, op='max')
            if flag.item() > 0 and not bad:
                raise NonFiniteLossError(
                    f'non-finite loss on another process at iteration {runner.iter + 1} '
                    f"(epoch {runner.epoch + 1}); see that process's error. Training stopped; "
                    'the last saved checkpoint is untouched.'
                )
        if bad:
            terms = ', '.join(f'{k}={v}' for k, v in bad.items())
            raise NonFiniteLossError(
                f'non-finite loss at iteration {runner.iter + 1} (epoch {runner.epoch + 1}, '
                f'batch {batch_idx}): {terms}. Training stopped; the last saved checkpoint is '
                'untouched. Lower the learning rate or check the inputs of this term.'
            )
