# Copyright (c) tpr_mm contributors. All rights reserved.
"""Fault injection for the reliability tests (never used by real configs).

Import it from a config with ``custom_imports = dict(imports=['tpr_mm.testing.faults'])``.
"""

import logging
import os
import signal
from typing import Optional

import torch
from mmengine.hooks import Hook

from tpr_mm.models.losses import BaseLoss
from tpr_mm.registry import HOOKS, MODELS

__all__ = ['SigKillAtIterHook', 'NaNAtCallLoss', 'KILL_AT_ITER_ENV']

#: Environment variable read by :class:`SigKillAtIterHook`.
KILL_AT_ITER_ENV = 'TPR_FAULT_SIGKILL_AT_ITER'


@HOOKS.register_module()
class SigKillAtIterHook(Hook):
    """SIGKILL the training process after a chosen iteration.

    The iteration (1-based, global) comes from ``$TPR_FAULT_SIGKILL_AT_ITER``
    so the same config trains normally when the variable is unset — e.g. for
    the resumed run. SIGKILL cannot be caught: no ``finally`` block, no hook
    and no atexit handler runs, like an OOM kill or a lost node.
    """

    priority = 'LOWEST'

    def __init__(self, env_var: str = KILL_AT_ITER_ENV) -> None:
        self.env_var = env_var

    def after_train_iter(
        self, runner, batch_idx: int, data_batch=None, outputs: Optional[dict] = None
    ) -> None:
        target = os.environ.get(self.env_var)
        if target and runner.iter + 1 == int(target):
            logging.shutdown()  # let the log show how far the run came
            os.kill(os.getpid(), signal.SIGKILL)


@MODELS.register_module()
class NaNAtCallLoss(BaseLoss):
    """A zero loss that turns NaN (or inf) at its ``at_call``-th training call.

    Args:
        at_call (int): 1-based call index that returns ``value``.
        value (float): The non-finite value. Defaults to NaN.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_nan_probe'``.
    """

    needs = frozenset({'img_feats', 'text_feats'})

    def __init__(
        self, at_call: int, value: float = float('nan'), loss_name: str = 'loss_nan_probe'
    ) -> None:
        super().__init__(loss_weight=1.0, loss_name=loss_name)
        self.at_call = at_call
        self.value = value
        self.calls = 0

    def forward(self, img_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
        """Returns a scalar: 0 (with gradient) or ``value`` at the chosen call."""
        self.calls += 1
        zero = 0.0 * (img_feats.sum() + text_feats.sum())
        return zero + self.value if self.calls == self.at_call else zero
