# Copyright (c) tpr_mm contributors. All rights reserved.
from .cpu_amp import CPUBF16AmpOptimWrapper, amp_optim_wrapper_cfg, cpu_bf16_autocast_available
from .irra_optim_constructor import IRRA_RULES, IRRAOptimWrapperConstructor

__all__ = [
    'CPUBF16AmpOptimWrapper',
    'amp_optim_wrapper_cfg',
    'cpu_bf16_autocast_available',
    'IRRA_RULES',
    'IRRAOptimWrapperConstructor',
]
