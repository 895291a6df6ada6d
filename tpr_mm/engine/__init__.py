# Copyright (c) tpr_mm contributors. All rights reserved.
from .hooks import FiniteLossHook, NonFiniteLossError
from .loops import RetrievalTestLoop, RetrievalValLoop
from .optim_wrappers import (
    CPUBF16AmpOptimWrapper,
    IRRAOptimWrapperConstructor,
    amp_optim_wrapper_cfg,
)
from .runner import TPRRunner, mmengine_safe_globals

__all__ = [
    'CPUBF16AmpOptimWrapper',
    'IRRAOptimWrapperConstructor',
    'amp_optim_wrapper_cfg',
    'FiniteLossHook',
    'NonFiniteLossError',
    'RetrievalValLoop',
    'RetrievalTestLoop',
    'TPRRunner',
    'mmengine_safe_globals',
]
