# Copyright (c) tpr_mm contributors. All rights reserved.
"""Data preprocessor that also batches LCR²S support sets."""

import torch

from tpr_mm.registry import MODELS

from .text_reid_preprocessor import TextReIDDataPreprocessor


@MODELS.register_module()
class SupportSetDataPreprocessor(TextReIDDataPreprocessor):
    """:class:`TextReIDDataPreprocessor` plus ``support_img`` / ``support_text``.

    Input from ``SupportSetDataset``: per item ``support_img`` uint8
    (K, 3, H, W) and ``support_text`` int64 (K', T). Output adds
    ``support_img`` float (B, K, 3, H, W), normalised like ``img``, and
    ``support_text`` int64 (B, K', T). Batches without support inputs
    (validation, test, in-batch supports) pass through as in the parent.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        out = super().forward(data, training)
        inputs = data['inputs']
        img = inputs.get('support_img')
        if img is not None:
            if isinstance(img, (list, tuple)):
                img = torch.stack(list(img))
            img = self.cast_data(img).float()
            out['inputs']['support_img'] = (img - self.mean) / self.std
        text = inputs.get('support_text')
        if text is not None:
            if isinstance(text, (list, tuple)):
                text = torch.stack(list(text))
            out['inputs']['support_text'] = self.cast_data(text).long()
        return out
