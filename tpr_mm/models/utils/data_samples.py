# Copyright (c) tpr_mm contributors. All rights reserved.
"""Fields of a batch's data samples as tensors: labels and dataset indices."""

from typing import Sequence

import torch


def labels_from_samples(data_samples: Sequence, key: str, device: torch.device) -> torch.Tensor:
    """Collect an integer label field of every sample into a (N,) tensor.

    Args:
        data_samples (Sequence[TextReIDDataSample]): The batch's samples.
        key (str): Field name, e.g. ``'pid'``.
        device (torch.device): Device of the returned labels.

    Returns:
        Tensor: (N,) long labels.

    Raises:
        KeyError: a sample has no such field (e.g. identity labels were dropped
            for weakly supervised training but a supervised loss asks for them).
    """
    values = []
    for i, sample in enumerate(data_samples):
        if key not in sample:
            raise KeyError(
                f'data sample {i} has no {key!r} field; the head was configured '
                f'with label_key={key!r}'
            )
        values.append(int(sample.get(key)))
    return torch.tensor(values, dtype=torch.long, device=device)


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
