# Copyright (c) tpr_mm contributors. All rights reserved.
"""Helpers of the resume tests: read a checkpoint, compare two exactly."""

import torch


def load_checkpoint(path):
    """A checkpoint written by the runner (MMEngine objects allowed)."""
    from tpr_mm.engine.runner import mmengine_safe_globals

    with mmengine_safe_globals():
        return torch.load(path, map_location='cpu')


def assert_same_tensors(a, b, where):
    """Every tensor equal and every other value equal, recursively."""
    if torch.is_tensor(a):
        assert torch.equal(a, b), f'{where} differs'
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            assert_same_tensors(a[k], b[k], f'{where}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tensors(x, y, f'{where}[{i}]')
    else:
        assert a == b, f'{where}: {a!r} != {b!r}'
