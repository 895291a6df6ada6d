# Copyright (c) tpr_mm contributors. All rights reserved.
"""Row indices of a batch into per-pair state that a hook computed for the training set."""

from typing import Sequence

import torch


def sample_indices(
    data_samples: Sequence,
    size: int,
    owner: str,
    state: str,
    dataset: str,
    device: torch.device,
) -> torch.Tensor:
    """Each sample's ``sample_idx``, checked against the length of the per-pair state.

    Used by heads whose epoch state (CPCL's pseudo labels, RDE's clean weights)
    is indexed by the training dataset's ``sample_idx``.

    Args:
        data_samples (Sequence): The batch's data samples.
        size (int): Number of pairs the state holds.
        owner (str): Head name for the messages, e.g. ``'CPCLHead'``.
        state (str): What the state describes, e.g. ``'pseudo-labelled pairs'``.
        dataset (str): The dataset the hook read, e.g. ``'clustered'``.
        device (torch.device): Device of the returned indices.

    Returns:
        Tensor: (B,) long indices.

    Raises:
        KeyError: a sample has no ``sample_idx``.
        IndexError: an index lies outside ``[0, size)``.
    """
    idx = []
    for i, sample in enumerate(data_samples):
        if 'sample_idx' not in sample:
            raise KeyError(
                f'data sample {i} has no sample_idx; keep it in PackTextReIDInputs.meta_keys'
            )
        idx.append(int(sample.sample_idx))
    bad = [j for j in idx if not 0 <= j < size]
    if bad:
        raise IndexError(
            f'{owner}: sample_idx {bad[:3]} outside the {size} {state}; the {dataset} '
            'dataset must be the training dataset'
        )
    return torch.tensor(idx, dtype=torch.long, device=device)
