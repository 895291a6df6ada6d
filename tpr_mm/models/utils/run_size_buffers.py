# Copyright (c) tpr_mm contributors. All rights reserved.
"""Buffers whose size is only known at run time, loaded at the size they were saved with."""

from typing import Tuple

import torch


class RunSizeBuffers:
    """Mixin for an ``nn.Module`` with buffers sized by a hook at run time.

    Pseudo labels and division weights (one per training pair) and prototype
    banks (one row per cluster) are empty in a freshly built model; loading a
    checkpoint resizes them to the stored shapes first, so that
    ``load_state_dict`` (and :meth:`adopt_state_shapes`, called by hooks
    before the runner's checks) does not report a size mismatch.

    Subclasses list the buffer names in :attr:`run_size_buffers`.
    """

    run_size_buffers: Tuple[str, ...] = ()

    def adopt_state_shapes(self, state_dict: dict, prefix: str = '') -> None:
        """Resize each run-size buffer to its shape in ``state_dict``, if stored."""
        for name in self.run_size_buffers:
            stored = state_dict.get(prefix + name)
            current = getattr(self, name)
            if torch.is_tensor(stored) and stored.shape != current.shape:
                setattr(self, name, current.new_zeros(stored.shape))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        self.adopt_state_shapes(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
