# Copyright (c) tpr_mm contributors. All rights reserved.
"""DBSCAN over a stream of neighbour pairs, in memory bounded by N.

:func:`dbscan_precomputed_sparse` needs the whole eps-graph, whose size
depends on the data (a group of G near-identical samples alone has G^2 / 2
pairs). Here the pairs ``(i, j)``, ``i < j``, ``dist <= eps`` arrive in blocks
of ascending rows (every pair of row ``i`` in the block that holds ``i``, as
:func:`overlap_blocks` yields them) and are consumed at once:

* a degree counter per sample; a sample's degree is final once the block of
  its row has passed (its pairs with smaller rows came before), and a sample
  whose count already reaches ``min_samples`` is a core point for good;
* core-core pairs are merged into components (union-find by relabelling with
  ``connected_components`` whenever the buffer reaches N pairs);
* a pair with an endpoint of unknown status waits; that endpoint has fewer
  than ``min_samples - 1`` pairs so far, so at most ``N * (min_samples - 2)``
  pairs wait, and a core-border pair has a border endpoint with fewer than
  ``min_samples - 1`` pairs in all, so at most as many are kept.

The labels are those of :func:`dbscan_precomputed_sparse` (scikit-learn's
semantics) on the same pairs.
"""

from typing import Iterable, Tuple

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

_EMPTY = np.zeros(0, dtype=np.int64)


class StreamingDBSCAN:
    """Consume ascending row blocks of eps-neighbour pairs, then label.

    Args:
        n (int): Number of samples.
        min_samples (int): Neighbours (self included) needed by a core point.
    """

    def __init__(self, n: int, min_samples: int) -> None:
        if min_samples < 1:
            raise ValueError(f'min_samples must be >= 1, got {min_samples}')
        self.n, self.min_samples = n, min_samples
        self.degree = np.zeros(n, dtype=np.int64)
        self.comp = np.arange(n, dtype=np.int64)
        self.done = 0
        self._wait = (_EMPTY, _EMPTY)
        self._union = ([], [], 0)
        self._border = ([], [])  # (core, border point)
        self.max_kept = 0  # largest number of pairs held at once (for tests/benchmarks)

    def _flush_union(self) -> None:
        a, b, count = self._union
        if count == 0:
            return
        a, b = np.concatenate(a), np.concatenate(b)
        graph = sp.csr_matrix(
            (np.ones(len(a), dtype=np.int8), (self.comp[a], self.comp[b])), shape=(self.n, self.n)
        )
        _, lab = connected_components(graph, directed=True, connection='weak')
        self.comp = lab[self.comp].astype(np.int64)
        self._union = ([], [], 0)

    def add(self, i1: int, rows: np.ndarray, cols: np.ndarray) -> None:
        """Pairs ``(rows[p], cols[p])``, ``rows < cols``, of every row in
        ``[self.done, i1)``; rows of later blocks must be >= ``i1``."""
        rows, cols = np.asarray(rows, np.int64), np.asarray(cols, np.int64)
        if i1 < self.done or i1 > self.n:
            raise ValueError(f'row blocks must ascend within [0, {self.n}], got {i1}')
        if rows.size and (rows.min() < self.done or rows.max() >= i1 or (cols <= rows).any()):
            raise ValueError('pairs must satisfy block start <= row < i1 and row < col')
        self.degree += np.bincount(rows, minlength=self.n) + np.bincount(cols, minlength=self.n)
        self.done = i1
        a = np.concatenate([self._wait[0], rows])
        b = np.concatenate([self._wait[1], cols])
        core = self.degree + 1 >= self.min_samples
        final = np.arange(self.n) < self.done
        known = core | final
        ca, cb = core[a], core[b]
        both = ca & cb
        ua, ub, count = self._union
        ua.append(a[both])
        ub.append(b[both])
        self._union = (ua, ub, count + int(both.sum()))
        bord_a = ca & ~cb & final[b]
        bord_b = cb & ~ca & final[a]
        self._border[0].extend([a[bord_a], b[bord_b]])
        self._border[1].extend([b[bord_a], a[bord_b]])
        wait = ~(known[a] & known[b])
        self._wait = (a[wait], b[wait])
        kept = len(self._wait[0]) + sum(len(x) for x in self._border[0]) + self._union[2]
        self.max_kept = max(self.max_kept, kept)
        if self._union[2] >= self.n:
            self._flush_union()

    def labels(self) -> np.ndarray:
        """(N,) int64 labels, -1 for outliers, clusters numbered by their
        smallest core index. Every row must have been added."""
        if self.done != self.n:
            raise RuntimeError(f'rows {self.done}..{self.n - 1} were never added')
        self._flush_union()
        n = self.n
        is_core = self.degree + 1 >= self.min_samples
        labels = np.full(n, -1, dtype=np.int64)
        core = np.flatnonzero(is_core)
        if core.size == 0:
            return labels
        comp = self.comp
        first_core = np.full(n, n, dtype=np.int64)
        np.minimum.at(first_core, comp[core], core)
        used = np.flatnonzero(first_core < n)
        rank = np.empty(n, dtype=np.int64)
        rank[used[np.argsort(first_core[used])]] = np.arange(len(used))
        labels[core] = rank[comp[core]]
        cores = np.concatenate(self._border[0]) if self._border[0] else _EMPTY
        points = np.concatenate(self._border[1]) if self._border[1] else _EMPTY
        if points.size:
            target = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
            np.minimum.at(target, points, labels[cores])
            hit = target < np.iinfo(np.int64).max
            labels[hit] = target[hit]
        return labels


def dbscan_pair_blocks(
    blocks: Iterable[Tuple[int, np.ndarray, np.ndarray]], n: int, min_samples: int
) -> np.ndarray:
    """DBSCAN labels from ascending row blocks ``(i1, rows, cols)`` of the
    eps-neighbour pairs ``rows < cols`` (see :class:`StreamingDBSCAN`)."""
    stream = StreamingDBSCAN(n, min_samples)
    for i1, rows, cols in blocks:
        stream.add(i1, rows, cols)
    return stream.labels()
