# Copyright (c) tpr_mm contributors. All rights reserved.
"""Head matching global image and text embeddings with a list of losses."""

from typing import List, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tpr_mm.registry import MODELS


def labels_from_samples(data_samples: Sequence, key: str, device: torch.device) -> torch.Tensor:
    """Collect an integer label field of every sample into a (N,) tensor.

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


@MODELS.register_module()
class GlobalMatchingHead(BaseModule):
    """Apply configured losses to (image, text) global embeddings.

    Each loss is a module called as ``loss(img_feats, text_feats,
    labels=labels, data_samples=data_samples)``; its ``loss_name`` becomes the
    key of the returned dict. A loss whose ``requires_labels`` attribute is
    False (e.g. ITC) works without any label field. Which losses are used is decided by the config,
    never by strings inside ``forward``.

    Args:
        losses (list[dict | nn.Module]): Loss configs or modules.
        label_key (str): Data-sample field used as labels. Defaults to
            ``'pid'``; weakly supervised methods use pseudo labels instead.
        init_cfg (dict, optional): Initialisation config.

    Examples:
        >>> head = dict(type='GlobalMatchingHead',
        ...             losses=[dict(type='SDMLoss', loss_weight=1.0)])
    """

    def __init__(
        self, losses: List[Union[dict, nn.Module]], label_key: str = 'pid', init_cfg=None
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if not losses:
            raise ValueError('GlobalMatchingHead needs at least one loss')
        self.losses = nn.ModuleList(
            [MODELS.build(cfg) if isinstance(cfg, dict) else cfg for cfg in losses]
        )
        names = [getattr(m, 'loss_name', type(m).__name__) for m in self.losses]
        if len(set(names)) != len(names):
            raise ValueError(f'loss names must be unique, got {names}')
        self.label_key = label_key

    def loss(
        self, img_feats: torch.Tensor, text_feats: torch.Tensor, data_samples: Sequence
    ) -> dict:
        """Compute every loss.

        Args:
            img_feats (Tensor): (N, D) global image embeddings.
            text_feats (Tensor): (N, D) global text embeddings (paired).
            data_samples (Sequence[TextReIDDataSample]): N samples.

        Returns:
            dict[str, Tensor]: one scalar per loss.
        """
        labels = None
        needs_labels = any(getattr(m, 'requires_labels', True) for m in self.losses)
        if needs_labels:
            labels = labels_from_samples(data_samples, self.label_key, img_feats.device)
        out = {}
        for module in self.losses:
            name = getattr(module, 'loss_name', type(module).__name__)
            out[name] = module(img_feats, text_feats, labels=labels, data_samples=data_samples)
        return out
