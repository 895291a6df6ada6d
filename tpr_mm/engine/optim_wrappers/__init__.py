# Copyright (c) tpr_mm contributors. All rights reserved.
from .cpu_amp import CPUBF16AmpOptimWrapper, amp_optim_wrapper_cfg, cpu_bf16_autocast_available

__all__ = ['CPUBF16AmpOptimWrapper', 'amp_optim_wrapper_cfg', 'cpu_bf16_autocast_available']
