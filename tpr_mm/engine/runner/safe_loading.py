# Copyright (c) tpr_mm contributors. All rights reserved.
"""Safe (``weights_only``) loading of MMEngine's own checkpoints.

Since PyTorch 2.6 ``torch.load`` defaults to ``weights_only=True``, which
refuses the few non-tensor types that MMEngine 0.10.x writes into a
checkpoint's ``meta`` (message-hub history buffers, NumPy scalars and
arrays). Rather than disabling safe loading, we allowlist exactly those
types for the duration of a load.
"""
import contextlib
from typing import Iterator, List

import numpy as np
import torch


def mmengine_checkpoint_types() -> List[object]:
    """Types MMEngine writes into checkpoints, safe to unpickle."""
    from mmengine.logging import HistoryBuffer

    types: List[object] = [HistoryBuffer, np.ndarray, np.dtype]
    core = getattr(np, '_core', None) or np.core
    types += [core.multiarray.scalar, core.multiarray._reconstruct]
    # NumPy >= 1.25 pickles dtypes as instances of per-type classes.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        types += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return types


@contextlib.contextmanager
def mmengine_safe_globals() -> Iterator[None]:
    """Allowlist :func:`mmengine_checkpoint_types` inside the block only."""
    safe_globals = getattr(torch.serialization, 'safe_globals', None)
    if safe_globals is None:  # torch < 2.5: weights_only is not the default
        yield
        return
    with safe_globals(mmengine_checkpoint_types()):
        yield
