# Copyright (c) tpr_mm contributors. All rights reserved.
"""ResNet image tower with a global and horizontal-stripe (part) pooling (TIPCB family).

Source: OrangeYHChen/TIPCB:models/model.py (``ResNet_image_50``; stripe pooling in
``Network.forward``).
"""

from typing import Dict, Optional

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule

from tpr_mm.registry import MODELS

from .resnet_weights import load_imagenet_resnet

__all__ = ['PartPoolingResNet']

POOLS = ('max', 'avg')


@MODELS.register_module()
class PartPoolingResNet(BaseModule):
    """MMPretrain ``ResNet`` + global pooling + ``num_parts`` horizontal stripes.

    The last stage's map (B, C, H, W) is pooled over everything into the
    global feature and over ``num_parts`` equal row bands into the part
    features (adaptive pooling to (num_parts, 1): rows ``[i·H/P, (i+1)·H/P)``
    when P divides H). TIPCB (OrangeYHChen/TIPCB:models/model.py) uses a
    torchvision ResNet-50 with the last stride set to 1 (384×128 input →
    2048×24×8), max pooling and six 4-row stripes; MMPretrain's ResNet with
    ``strides=(1, 2, 2, 1)`` and the default ``style='pytorch'`` (stride on
    the 3×3 conv and on the shortcut) is the same network.

    Args:
        resnet (dict): Config of the ResNet, built through the registry, e.g.
            ``dict(type='mmpretrain.ResNet', depth=50, strides=(1, 2, 2, 1),
            out_indices=(3,))``; only its last output is used.
        pretrained (str, optional): Local ImageNet checkpoint, torchvision or
            MMPretrain key layout (see :func:`load_imagenet_resnet`), loaded
            at construction. None = random initialisation.
        num_parts (int): Number of horizontal stripes. Defaults to 6.
        pool (str): ``'max'`` (TIPCB) or ``'avg'``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        resnet: dict,
        pretrained: Optional[str] = None,
        num_parts: int = 6,
        pool: str = 'max',
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if pool not in POOLS:
            raise ValueError(f'pool must be one of {POOLS}, got {pool!r}')
        if num_parts < 1:
            raise ValueError(f'num_parts must be >= 1, got {num_parts}')
        self.resnet = MODELS.build(resnet)
        stages = getattr(self.resnet, 'num_stages', None)
        if stages is not None and max(self.resnet.out_indices) != stages - 1:
            raise ValueError(
                f'PartPoolingResNet pools the last stage: resnet.out_indices must end with '
                f'{stages - 1}, got {tuple(self.resnet.out_indices)}'
            )
        self.out_channels = int(self.resnet.feat_dim)
        self.num_parts = int(num_parts)
        self.pool = pool
        self.pretrained = pretrained
        if pretrained:
            load_imagenet_resnet(self.resnet, pretrained)

    def init_weights(self) -> None:
        """Random initialisation only without ImageNet weights (they must not be overwritten)."""
        if not self.pretrained:
            super().init_weights()

    def _pool(self, x: torch.Tensor, size) -> torch.Tensor:
        if self.pool == 'max':
            return F.adaptive_max_pool2d(x, size)
        return F.adaptive_avg_pool2d(x, size)

    def forward(self, img: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Encode images.

        Args:
            img (Tensor): (B, 3, H, W) normalised images.

        Returns:
            dict: ``global`` (B, C), ``parts`` (B, P, C) top to bottom and
            ``feature_map`` (B, C, h, w).
        """
        fmap = self.resnet(img)[-1]
        if fmap.shape[2] < self.num_parts:
            raise ValueError(
                f'feature map has {fmap.shape[2]} rows, fewer than num_parts={self.num_parts}; '
                f'input {tuple(img.shape[2:])} is too small'
            )
        glob = self._pool(fmap, 1).flatten(1)
        parts = self._pool(fmap, (self.num_parts, 1)).flatten(2).transpose(1, 2)
        return {'global': glob, 'parts': parts, 'feature_map': fmap}
