# Copyright (c) tpr_mm contributors. All rights reserved.
"""Multi-branch residual 1-D CNN over word features (TIPCB's text branches).

Source: OrangeYHChen/TIPCB:models/CNN_text.py (``ResNet_text_50``).
"""

from typing import Dict, Optional

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tpr_mm.registry import MODELS

__all__ = ['ResidualTextCNN']


class _Bottleneck1d(nn.Module):
    """1x1 -> 1x``kernel`` -> 1x1 convolutions with BN, ReLU and a shortcut (ResNet bottleneck)."""

    def __init__(
        self, in_ch: int, width: int, out_ch: int, kernel: int, shortcut: Optional[nn.Module]
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(in_ch, width, 1, bias=False)
        self.bn1 = nn.BatchNorm1d(width)
        self.conv2 = nn.Conv1d(width, width, kernel, padding=kernel // 2, bias=False)
        self.bn2 = nn.BatchNorm1d(width)
        self.conv3 = nn.Conv1d(width, out_ch, 1, bias=False)
        self.bn3 = nn.BatchNorm1d(out_ch)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.relu(self.bn3(self.conv3(out)) + identity)


@MODELS.register_module()
class ResidualTextCNN(BaseModule):
    """Word features -> 1x1 stem -> ``num_branches`` residual CNN branches -> max pooling.

    The structure of TIPCB's text tower (OrangeYHChen/TIPCB:models/CNN_text.py):
    a 1x1 conv + BN + ReLU to ``stem_channels``, then per branch
    ``num_blocks`` bottlenecks (1x1, 1x3, 1x1; width ``width``) to
    ``out_channels``. Each branch, max-pooled over the words, is one part
    feature; the global feature is the element-wise max of the parts.
    Convolutions are 1-D here (TIPCB's (1, 3) 2-D kernels on a height-1 map
    compute the same function).

    Args:
        in_channels (int): Word feature size (768 for BERT-base).
        stem_channels (int): Defaults to 1024.
        out_channels (int): Defaults to 2048.
        width (int): Bottleneck width. Defaults to 512.
        num_branches (int): Part branches. Defaults to 6.
        num_blocks (int): Bottlenecks per branch. Defaults to 3.
        kernel_size (int): Middle conv kernel. Defaults to 3.
        share_downsample (bool): One shortcut projection (1x1 conv + BN) for
            the first block of every branch, as TIPCB's code does (it passes
            the same module to all six branches). Defaults to True.
        mask_padding (bool): Exclude padding positions from the max pooling.
            TIPCB pools over all positions ([PAD] included). Defaults to False.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        in_channels: int = 768,
        stem_channels: int = 1024,
        out_channels: int = 2048,
        width: int = 512,
        num_branches: int = 6,
        num_blocks: int = 3,
        kernel_size: int = 3,
        share_downsample: bool = True,
        mask_padding: bool = False,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if kernel_size % 2 == 0:
            raise ValueError(f'kernel_size must be odd (same-length output), got {kernel_size}')
        if num_branches < 1 or num_blocks < 1:
            raise ValueError('num_branches and num_blocks must be >= 1')
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.mask_padding = mask_padding
        self.stem = nn.Sequential(
            nn.Conv1d(in_channels, stem_channels, 1, bias=False),
            nn.BatchNorm1d(stem_channels),
            nn.ReLU(inplace=True),
        )

        def projection() -> nn.Module:
            return nn.Sequential(
                nn.Conv1d(stem_channels, out_channels, 1, bias=False), nn.BatchNorm1d(out_channels)
            )

        shared = projection() if share_downsample else None
        self.branches = nn.ModuleList()
        for _ in range(num_branches):
            blocks = [
                _Bottleneck1d(
                    stem_channels,
                    width,
                    out_channels,
                    kernel_size,
                    shared if shared is not None else projection(),
                )
            ]
            blocks += [
                _Bottleneck1d(out_channels, width, out_channels, kernel_size, None)
                for _ in range(num_blocks - 1)
            ]
            self.branches.append(nn.Sequential(*blocks))
        for m in self.modules():  # TIPCB's initialisation
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm1d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(
        self, words: torch.Tensor, mask: Optional[torch.Tensor] = None
    ) -> Dict[str, torch.Tensor]:
        """Encode word features.

        Args:
            words (Tensor): (B, L, C_in) word features.
            mask (Tensor, optional): (B, L) bool, True = real token; used
                only with ``mask_padding``.

        Returns:
            dict: ``global`` (B, C), ``parts`` (B, P, C) and ``stem`` (B, C_stem)
            (the stem output max-pooled: TIPCB's mid-level text feature).
        """
        if words.ndim != 3 or words.shape[-1] != self.in_channels:
            raise ValueError(f'words must be (B, L, {self.in_channels}), got {tuple(words.shape)}')
        x = self.stem(words.transpose(1, 2))
        keep = None
        if self.mask_padding and mask is not None:
            if not bool(mask.any(dim=1).all()):
                raise ValueError('every caption needs at least one real token')
            keep = mask.unsqueeze(1)

        def pool(feat: torch.Tensor) -> torch.Tensor:
            if keep is not None:
                feat = feat.masked_fill(~keep, float('-inf'))
            return feat.amax(dim=2)

        parts = torch.stack([pool(branch(x)) for branch in self.branches], dim=1)
        return {'global': parts.amax(dim=1), 'parts': parts, 'stem': pool(x)}
