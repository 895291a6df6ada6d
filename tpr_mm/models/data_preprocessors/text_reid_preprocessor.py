# Copyright (c) tpr_mm contributors. All rights reserved.
"""Batching, device transfer and normalisation of image/text inputs.

Source: anosorae/IRRA:datasets/build.py (``build_transforms``: CLIP's mean and std).
"""

from typing import Optional, Sequence

import torch
from mmengine.model import BaseDataPreprocessor

from tpr_mm.registry import MODELS

CLIP_MEAN_255 = (122.7709383, 116.7460125, 104.09373615)
CLIP_STD_255 = (68.5005327, 66.6321579, 70.32316305)


@MODELS.register_module()
class TextReIDDataPreprocessor(BaseDataPreprocessor):
    """Stack images and token ids, move them to the model's device, normalise.

    Input (from ``pseudo_collate``): ``dict(inputs=dict(img=[uint8 (3, H, W)],
    text=[int64 (T,)]), data_samples=[...])``; either modality may be absent.
    Output: ``dict(inputs=dict(img=float (B, 3, H, W), text=int64 (B, T)),
    data_samples=[...])``. The integer inputs named in ``extra_token_keys``
    (IRRA's masked caption and MLM labels) are stacked and moved like ``text``.

    Args:
        mean (Sequence[float]): Per-channel mean on the 0–255 scale. Defaults
            to CLIP's.
        std (Sequence[float]): Per-channel std on the 0–255 scale.
        extra_token_keys (Sequence[str]): Further (T,) int64 inputs batched to
            (B, T) when present. Defaults to ``('mlm_text', 'mlm_labels')``.
    """

    def __init__(
        self,
        mean: Sequence[float] = CLIP_MEAN_255,
        std: Sequence[float] = CLIP_STD_255,
        non_blocking: Optional[bool] = False,
        extra_token_keys: Sequence[str] = ('mlm_text', 'mlm_labels'),
    ) -> None:
        super().__init__(non_blocking)
        self.extra_token_keys = tuple(extra_token_keys)
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), False)

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        out = {}
        img = inputs.get('img')
        if img is not None:
            if isinstance(img, (list, tuple)):
                img = torch.stack(list(img))
            img = self.cast_data(img).float()
            out['img'] = (img - self.mean) / self.std
        text = inputs.get('text')
        if text is not None:
            if isinstance(text, (list, tuple)):
                text = torch.stack(list(text))
            out['text'] = self.cast_data(text).long()
        for key in self.extra_token_keys:
            value = inputs.get(key)
            if value is not None:
                if isinstance(value, (list, tuple)):
                    value = torch.stack(list(value))
                out[key] = self.cast_data(value).long()
        samples = data.get('data_samples')
        return dict(inputs=out, data_samples=samples)
