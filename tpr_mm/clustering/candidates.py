# Copyright (c) tpr_mm contributors. All rights reserved.
"""Candidate neighbour lists for the exact kNN of :mod:`.knn`.

A proposer returns, for some query rows, ``m`` candidate columns sorted by an
*approximate* similarity together with that approximation, and the bound
``tol`` on ``|approximate - float64 dot|`` that :func:`.knn.certify` relies on.
Two proposers:

* :class:`Bfloat16Proposer`: blocks of ``X[rows] @ X.T`` in bfloat16 (torch;
  2-3x the float32 GEMM speed on CPUs with bfloat16 dot instructions) and
  ``torch.topk``. Bound for unit rows: input rounding ``2 * 2^-9`` of
  ``sum |x_i y_i| <= 1``, output rounding ``2^-9``, float32 accumulation
  ``D * 2^-24``: below 0.0059; ``2^-7`` is used.
* :func:`faiss_candidates`: faiss' exact float32 inner-product search (GPU
  when available), bound ``1e-4`` on CPU, ``3e-3`` on GPU (TF32 GEMMs).

The proposers only decide speed: the certified top-k is the same whatever
proposes the candidates.
"""

from typing import Tuple

import faiss
import numpy as np
import torch

# Bound on |faiss float32 dot - float64 dot| of unit vectors: worst-case input
# rounding plus recursive float32 summation over D terms, i.e. (D + 2) * 2^-24,
# doubled, never below 1e-4. GPUs may run the GEMM in TF32 (10-bit mantissa),
# hence the looser GPU floor.
CPU_DOT_TOL = 1e-4
GPU_DOT_TOL = 3e-3
BF16_DOT_TOL = 2.0**-7
# Entries of one bfloat16 similarity block (128 MiB).
_BF16_BLOCK = 1 << 26


def use_gpu() -> bool:
    """Whether faiss has a GPU index and a GPU to run it on."""
    return faiss.get_num_gpus() > 0 and hasattr(faiss, 'GpuIndexFlatIP')


def faiss_tolerance(dim: int) -> float:
    """Dot-product error bound of :func:`faiss_candidates` for unit rows of ``dim``."""
    return max(GPU_DOT_TOL if use_gpu() else CPU_DOT_TOL, 2 * (dim + 2) * 2.0**-24)


class FaissIndex:
    """faiss flat inner-product index over float32 unit rows (GPU when available)."""

    def __init__(self, x32: np.ndarray) -> None:
        dim = x32.shape[1]
        if use_gpu():
            self.index = faiss.GpuIndexFlatIP(faiss.StandardGpuResources(), dim)
        else:
            self.index = faiss.IndexFlatIP(dim)
        self.index.add(x32)
        self.x32 = x32

    def search(self, rows: np.ndarray, m: int) -> Tuple[np.ndarray, np.ndarray]:
        """(len(rows), m) approximate similarities (descending) and int64 columns."""
        sims, idx = self.index.search(np.ascontiguousarray(self.x32[rows]), m)
        return sims, idx.astype(np.int64)


class Bfloat16Proposer:
    """Top-``m`` candidates from bfloat16 GEMM blocks (CPU torch)."""

    def __init__(self, x32: np.ndarray) -> None:
        self.xb = torch.from_numpy(x32).to(torch.bfloat16)
        self.block = max(1, _BF16_BLOCK // x32.shape[0])

    def search(self, rows: np.ndarray, m: int) -> Tuple[np.ndarray, np.ndarray]:
        """(len(rows), m) approximate similarities (descending) and int64 columns."""
        sims, idx = [], []
        block = -(-len(rows) // -(-len(rows) // self.block))  # equal blocks <= self.block
        for s in range(0, len(rows), block):
            q = self.xb[torch.from_numpy(rows[s : s + block])]
            vals, cols = torch.topk(q @ self.xb.T, m, dim=1)  # sorted, descending
            sims.append(vals.float().numpy())
            idx.append(cols.numpy().astype(np.int64))
        return np.concatenate(sims), np.concatenate(idx)
