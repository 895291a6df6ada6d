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

    Args:
        meta_keys (Sequence[str]): Keys copied into the sample's metainfo when
            present.
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
    ) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        inputs = {}
        if 'img' in results:
            img = np.ascontiguousarray(results['img'].transpose(2, 0, 1))
            inputs['img'] = torch.from_numpy(img)
        if 'text' in results:
            inputs['text'] = torch.as_tensor(results['text'], dtype=torch.long)
        if not inputs:
            raise KeyError(
                'PackTextReIDInputs found neither "img" nor "text" in the results; '
                'is LoadPersonImage or TokenizeCaption missing from the pipeline?'
            )
        sample = TextReIDDataSample(
            metainfo={k: results[k] for k in self.meta_keys if k in results}
        )
        return dict(inputs=inputs, data_samples=sample)
