# Copyright (c) tpr_mm contributors. All rights reserved.
"""The non-tensor types MMEngine writes into checkpoints, allowlisted for weights-only loading.

PyTorch's ``weights_only`` unpickler refuses the few non-tensor objects that
MMEngine 0.10.x writes into a checkpoint's ``meta``: message-hub
``HistoryBuffer`` objects (whose state holds references to their statistics
methods, pickled as ``getattr(HistoryBuffer, 'mean')``), NumPy scalars,
arrays and dtypes. Rather than disabling safe loading, we allowlist exactly
those types for the duration of a load, and replace the ``getattr`` global by
a version that only resolves HistoryBuffer's own statistics methods — a
general ``getattr`` would let a crafted file reach arbitrary callables.
"""

import contextlib
from typing import Any, Iterator, List

import numpy as np
import torch

from tpr_mm.utils.mmengine_compat import history_buffer_statistics

__all__ = ['mmengine_checkpoint_types', 'mmengine_safe_globals']


def _history_buffer_getattr(obj: Any, name: str) -> Any:
    """``getattr`` limited to ``HistoryBuffer.<statistics method>``."""
    from mmengine.logging import HistoryBuffer

    allowed = history_buffer_statistics()
    if obj is HistoryBuffer and name in allowed and not name.startswith('_'):
        return getattr(HistoryBuffer, name)
    raise RuntimeError(
        f'refusing to resolve {getattr(obj, "__name__", type(obj).__name__)}.'
        f'{name} while loading a checkpoint safely'
    )


def mmengine_checkpoint_types() -> List[object]:
    """Globals MMEngine writes into checkpoints, safe to unpickle."""
    from mmengine.logging import HistoryBuffer

    types: List[object] = [
        HistoryBuffer,
        np.ndarray,
        np.dtype,
        (_history_buffer_getattr, '__builtin__.getattr'),
        (_history_buffer_getattr, 'builtins.getattr'),
    ]
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
    with torch.serialization.safe_globals(mmengine_checkpoint_types()):
        yield
