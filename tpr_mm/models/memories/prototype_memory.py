# Copyright (c) tpr_mm contributors. All rights reserved.
"""Cluster-prototype memory with per-sample momentum updates (CPCL's PMM).

Source: alibaba/cluster-contrast-reid:clustercontrast/models/cm.py (``ClusterMemory``; the
per-sample momentum update of ``CM.backward``).
"""

from typing import Union

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from tpr_mm.models.utils import RunSizeBuffers
from tpr_mm.registry import MODELS
from tpr_mm.utils.dist import all_gather_rows

ArrayLike = Union[np.ndarray, torch.Tensor]


def cluster_means(features: torch.Tensor, labels: torch.Tensor, num_clusters: int) -> torch.Tensor:
    """L2-normalised mean feature of every cluster; outliers (-1) are ignored.

    Args:
        features (Tensor): (N, D) features.
        labels (Tensor): (N,) int64 labels in ``-1..num_clusters-1``.
        num_clusters (int): C.

    Returns:
        Tensor: (C, D) float32 unit rows (a cluster without members is a zero row).
    """
    feats = F.normalize(features.float(), dim=1)
    keep = labels >= 0
    sums = feats.new_zeros((num_clusters, feats.shape[1]))
    sums.index_add_(0, labels[keep], feats[keep])
    return F.normalize(sums, dim=1)


def momentum_update(
    bank: torch.Tensor, features: torch.Tensor, labels: torch.Tensor, momentum: float
) -> torch.Tensor:
    """Sequential per-sample update ``M[y] <- norm(mu*M[y] + (1-mu)*f)``, batched exactly.

    Samples are applied in batch order, as a per-sample loop would. Because
    the k-th occurrences of distinct labels touch distinct rows, all k-th
    occurrences are applied at once; the number of rounds is the largest
    label multiplicity in the batch.

    Args:
        bank (Tensor): (C, D) unit prototypes; not modified.
        features (Tensor): (B, D) unit features.
        labels (Tensor): (B,) int64; -1 rows are skipped.
        momentum (float): mu, the weight kept by the old prototype.

    Returns:
        Tensor: (C, D) updated copy of ``bank``.
    """
    bank = bank.clone()
    keep = labels >= 0
    feats, labels = features[keep].to(bank.dtype), labels[keep]
    if labels.numel() == 0:
        return bank
    # occurrence[i] = how many earlier samples of the batch share labels[i]
    same = labels.view(-1, 1) == labels.view(1, -1)
    occurrence = torch.tril(same, diagonal=-1).sum(dim=1)
    for k in range(int(occurrence.max().item()) + 1):
        rows = occurrence == k
        idx = labels[rows]
        bank[idx] = F.normalize(momentum * bank[idx] + (1.0 - momentum) * feats[rows], dim=1)
    return bank


@MODELS.register_module()
class PrototypeMemory(RunSizeBuffers, nn.Module):
    """One modality's bank of cluster prototypes, rebuilt every epoch.

    :meth:`reset` fills the bank with the normalised cluster means of the
    epoch's features (C varies between epochs); :meth:`update` applies the
    momentum update after every iteration, under ``no_grad``. The update
    builds a new tensor instead of writing in place, so a loss that used the
    old bank in this iteration can still back-propagate. The bank is a buffer
    (checkpointed); loading a checkpoint resizes it to the stored shape.

    Args:
        momentum (float): mu in ``M[y] <- mu*M[y] + (1-mu)*f``. Defaults to
            0.2 (cluster-contrast default [ASSUMED];
            docs/methods/cpcl.md#defaults-and-their-sources).
        sync_dist (bool): Under DDP, gather the batch of every rank before
            updating, so all ranks keep identical banks. Defaults to True.
    """

    # C (clusters) changes every epoch; checkpoints store the epoch's bank.
    run_size_buffers = ('bank',)

    def __init__(self, momentum: float = 0.2, sync_dist: bool = True) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f'PrototypeMemory: momentum must be in [0, 1), got {momentum}')
        self.momentum = momentum
        self.sync_dist = sync_dist
        self.register_buffer('bank', torch.zeros(0, 0))

    @property
    def num_prototypes(self) -> int:
        """int: C, the number of prototypes (clusters) in the bank."""
        return self.bank.shape[0]

    @property
    def prototypes(self) -> torch.Tensor:
        """Tensor: (C, D) unit prototypes."""
        return self.bank

    @torch.no_grad()
    def reset(self, features: ArrayLike, labels: ArrayLike) -> None:
        """Rebuild the bank from cluster means.

        Args:
            features (np.ndarray | Tensor): (N, D) features of the whole set.
            labels (np.ndarray | Tensor): (N,) labels, -1 for outliers.
        """
        feats = torch.as_tensor(features, dtype=torch.float32).to(self.bank.device)
        labels = torch.as_tensor(labels, dtype=torch.long).to(self.bank.device)
        if feats.ndim != 2 or labels.shape != (feats.shape[0],):
            raise ValueError(
                f'PrototypeMemory.reset: features (N, D) and labels (N,) expected, '
                f'got {tuple(feats.shape)} and {tuple(labels.shape)}'
            )
        num = int(labels.max().item()) + 1 if labels.numel() else 0
        self.bank = cluster_means(feats, labels, max(num, 0))

    @torch.no_grad()
    def update(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Momentum-update the prototypes of a batch's clusters.

        Args:
            features (Tensor): (B, D) features of this rank's batch
                (normalised here).
            labels (Tensor): (B,) labels, -1 rows skipped.
        """
        if self.num_prototypes == 0:
            return
        feats = F.normalize(features.detach().float(), dim=1)
        labels = labels.to(feats.device).long()
        if self.sync_dist:
            feats, labels = all_gather_rows(feats), all_gather_rows(labels)
        if labels.numel() and int(labels.max().item()) >= self.num_prototypes:
            raise IndexError(
                f'PrototypeMemory.update: label {int(labels.max().item())} out of '
                f'range for {self.num_prototypes} prototypes'
            )
        self.bank = momentum_update(self.bank, feats, labels, self.momentum)

    def extra_repr(self) -> str:
        return f'momentum={self.momentum}, num_prototypes={self.num_prototypes}'
