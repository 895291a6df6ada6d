# Copyright (c) tpr_mm contributors. All rights reserved.
"""Mixed precision that also works on CPU (bfloat16 autocast)."""

import contextlib
import copy
from typing import Union

import torch
import torch.nn as nn
from mmengine.config import ConfigDict
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper

from tpr_mm.registry import OPTIM_WRAPPERS


def cpu_bf16_autocast_available() -> bool:
    """Whether ``torch.autocast('cpu', dtype=torch.bfloat16)`` runs a matmul."""
    try:
        with torch.autocast('cpu', dtype=torch.bfloat16):
            out = torch.ones(2, 2) @ torch.ones(2, 2)
        return out.dtype == torch.bfloat16
    except (RuntimeError, TypeError):
        return False


@OPTIM_WRAPPERS.register_module()
class CPUBF16AmpOptimWrapper(OptimWrapper):
    """Optimizer wrapper whose forward runs under CPU bfloat16 autocast.

    bfloat16 has float32's exponent range, so no loss scaling is needed;
    parameters and optimizer state stay float32.

    Raises:
        RuntimeError: this PyTorch build cannot autocast to bfloat16 on CPU.
    """

    def __init__(self, **kwargs) -> None:
        if not cpu_bf16_autocast_available():
            raise RuntimeError(
                '--amp: CPU bfloat16 autocast is unavailable in this PyTorch '
                'build; train without --amp'
            )
        super().__init__(**kwargs)

    @contextlib.contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast('cpu', dtype=torch.bfloat16):
            yield


def amp_optim_wrapper_cfg(optim_wrapper: Union[dict, ConfigDict]) -> dict:
    """Turn an ``OptimWrapper`` config into its mixed-precision counterpart.

    CUDA: MMEngine's ``AmpOptimWrapper`` (float16, dynamic loss scale).
    CPU: :class:`CPUBF16AmpOptimWrapper`.
    """
    cfg = copy.deepcopy(optim_wrapper)
    if cfg.get('type', 'OptimWrapper') not in ('OptimWrapper', 'mmengine.OptimWrapper'):
        print_log(
            f'--amp: leaving the custom optim wrapper {cfg["type"]} as configured',
            logger='current',
            level=30,
        )
        return cfg
    if torch.cuda.is_available():
        cfg['type'] = 'AmpOptimWrapper'
        cfg.setdefault('loss_scale', 'dynamic')
    else:
        cfg['type'] = 'CPUBF16AmpOptimWrapper'
    return cfg
