# Copyright (c) tpr_mm contributors. All rights reserved.
"""Counters that dataloader worker processes share with the main process."""

import multiprocessing
from typing import List

__all__ = ['SharedCount', 'SharedTally']


class SharedCount:
    """An int-like counter shared by the dataloader worker processes.

    ``LoadPersonImage`` counts with ``self.num_skipped += 1`` (and ``num_truncated``);
    in a worker process that increments the worker's copy only. Replacing
    the attribute with this object (``+=`` increments shared memory in place,
    inherited by forked and spawned workers) makes the main process see the
    total.
    """

    def __init__(self, value: int = 0) -> None:
        self._value = multiprocessing.Value('q', int(value))

    def __iadd__(self, other: int) -> 'SharedCount':
        with self._value.get_lock():
            self._value.value += int(other)
        return self

    def __int__(self) -> int:
        return int(self._value.value)

    __index__ = __int__

    def __eq__(self, other) -> bool:
        return int(self) == other

    __hash__ = None

    def __format__(self, spec: str) -> str:
        return format(int(self), spec)

    def __repr__(self) -> str:
        return str(int(self))

    def __copy__(self) -> 'SharedCount':
        return self  # e.g. ``dataset.get_subset`` copies the pipeline: keep one count

    def __deepcopy__(self, memo: dict) -> 'SharedCount':
        return self


class SharedTally:
    """Counters of one transform attribute made shared, and the total last reported."""

    def __init__(self) -> None:
        self.counters: List[SharedCount] = []
        self.reported = 0

    def attach(self, transform, attr: str) -> None:
        value = getattr(transform, attr)
        if not isinstance(value, SharedCount):
            value = SharedCount(int(value))
            setattr(transform, attr, value)
        if all(value is not c for c in self.counters):
            self.counters.append(value)

    def total(self) -> int:
        return sum(int(c) for c in self.counters)

    def take_new(self) -> tuple:
        """``(count since the last call, total)``."""
        total = self.total()
        new, self.reported = total - self.reported, total
        return new, total
