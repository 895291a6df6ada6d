# Copyright (c) tpr_mm contributors. All rights reserved.
"""Packing pipeline results into model inputs and a data sample."""

from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform

from tpr_mm.registry import TRANSFORMS
from tpr_mm.structures import TextReIDDataSample


@TRANSFORMS.register_module()
class PackTextReIDInputs(BaseTransform):
    """Pack ``img`` and/or ``text`` into ``inputs`` and metadata into a sample.

    Required keys: ``img`` and/or ``text``; ``pid``, ``sample_idx``.
    Output: ``dict(inputs=dict(img=uint8 Tensor (3, H, W), text=int64 Tensor
    (T,)), data_samples=TextReIDDataSample)``; absent modalities are omitted.
    Training-only token arrays named in ``extra_input_keys`` (e.g. the masked
    caption and labels of ``MaskCaptionTokens``) are packed as int64 inputs
    when present.

    Why not MMPretrain's ``PackInputs``: it packs one input tensor (the image)
    into a ``DataSample``; a text re-id item carries an image *and* caption
    tokens (or only one of them) and a :class:`TextReIDDataSample`.

    Args:
        meta_keys (Sequence[str]): Keys copied into the sample's metainfo when
            present.
        extra_input_keys (Sequence[str]): Further integer arrays packed into
            ``inputs`` when present. Defaults to ``('mlm_text', 'mlm_labels')``.
    """

    def __init__(
        self,
        meta_keys: Sequence[str] = (
            'pid',
            'image_id',
            'caption_id',
            'sample_idx',
            'img_path',
            'caption',
            'modality',
            'raw_id',
            'pseudo_label',
            'is_clean',
        ),
        extra_input_keys: Sequence[str] = ('mlm_text', 'mlm_labels'),
    ) -> None:
        self.meta_keys = tuple(meta_keys)
        self.extra_input_keys = tuple(extra_input_keys)

    def transform(self, results: dict) -> dict:
        inputs = {}
        if 'img' in results:
            img = np.ascontiguousarray(results['img'].transpose(2, 0, 1))
            inputs['img'] = torch.from_numpy(img)
        if 'text' in results:
            inputs['text'] = torch.as_tensor(results['text'], dtype=torch.long)
        for key in self.extra_input_keys:
            if key in results:
                inputs[key] = torch.as_tensor(results[key], dtype=torch.long)
        if not inputs:
            raise KeyError(
                'PackTextReIDInputs found neither "img" nor "text" in the results; '
                'is LoadPersonImage or TokenizeCaption missing from the pipeline?'
            )
        sample = TextReIDDataSample(
            metainfo={k: results[k] for k in self.meta_keys if k in results}
        )
        return dict(inputs=inputs, data_samples=sample)
