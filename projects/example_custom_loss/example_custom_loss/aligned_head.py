# Copyright (c) tpr_mm contributors. All rights reserved.
"""A head that adds one extra loss to :class:`GlobalMatchingHead`'s."""

from typing import List, Sequence, Union

import torch
import torch.nn as nn

from tpr_mm.models.heads import GlobalMatchingHead
from tpr_mm.registry import MODELS


@MODELS.register_module()
class AlignedMatchingHead(GlobalMatchingHead):
    """:class:`GlobalMatchingHead` plus an alignment loss kept apart from ``losses``.

    Keeping the extra loss in its own argument lets a config inherit the base
    config's ``losses`` list unchanged and only switch the head type.

    Args:
        losses (list[dict | nn.Module]): As in :class:`GlobalMatchingHead`.
        align_loss (dict | nn.Module): The added loss, e.g.
            ``dict(type='PairAlignmentLoss', loss_weight=0.5)``.
        label_key (str): Data-sample field used as labels. Defaults to ``'pid'``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        losses: List[Union[dict, nn.Module]],
        align_loss: Union[dict, nn.Module],
        label_key: str = 'pid',
        init_cfg=None,
    ) -> None:
        super().__init__(losses=losses, label_key=label_key, init_cfg=init_cfg)
        self.align_loss = MODELS.build(align_loss) if isinstance(align_loss, dict) else align_loss
        names = {getattr(m, 'loss_name', type(m).__name__) for m in self.losses}
        if self.align_loss.loss_name in names:
            raise ValueError(f'align_loss name {self.align_loss.loss_name!r} is already used')

    def loss(
        self, img_feats: torch.Tensor, text_feats: torch.Tensor, data_samples: Sequence
    ) -> dict:
        """Compute the base losses and the alignment loss.

        Args:
            img_feats (Tensor): (N, D) global image embeddings.
            text_feats (Tensor): (N, D) global text embeddings (paired).
            data_samples (Sequence[TextReIDDataSample]): N samples.

        Returns:
            dict[str, Tensor]: one scalar per loss, the alignment loss included.
        """
        out = super().loss(img_feats, text_feats, data_samples)
        out[self.align_loss.loss_name] = self.align_loss(img_feats, text_feats)
        return out
