# Copyright (c) tpr_mm contributors. All rights reserved.
"""The dispatch and feature contract shared by every two-tower retriever."""

from typing import Dict, List, Optional, Sequence

import torch
from mmengine.model import BaseModel


class BaseRetriever(BaseModel):
    """Base of the retrievers: ``forward`` dispatch, ``extract_feat``, ``predict``.

    Subclasses implement ``extract_img_feat`` ((B, 3, H, W) -> (B, D)),
    ``extract_text_feat`` ((B, T) -> (B, D)) and ``loss``.

    Modes of :meth:`forward`:
        - ``'loss'``: ``inputs`` has ``img`` and ``text`` of paired samples;
          returns the loss dict.
        - ``'tensor'``: returns ``dict(img_feats=(B, D), text_feats=(B, D))``
          for whichever modalities are present.
        - ``'predict'``: stores ``img_feat`` / ``text_feat`` (D,) in each data
          sample and returns the samples (used by the retrieval loops).
    """

    def extract_img_feat(self, img: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def extract_text_feat(self, text: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def loss(self, inputs: Dict[str, torch.Tensor], data_samples: Sequence) -> dict:
        raise NotImplementedError

    def extract_feat(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Encode whichever modalities ``inputs`` holds."""
        feats = {}
        if inputs.get('img') is not None:
            feats['img_feats'] = self.extract_img_feat(inputs['img'])
        if inputs.get('text') is not None:
            feats['text_feats'] = self.extract_text_feat(inputs['text'])
        return feats

    def forward(
        self,
        inputs: Dict[str, torch.Tensor],
        data_samples: Optional[Sequence] = None,
        mode: str = 'tensor',
    ):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_feat(inputs)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; expected loss, tensor or predict')

    def predict(self, inputs: Dict[str, torch.Tensor], data_samples: Sequence) -> List:
        feats = self.extract_feat(inputs)
        for key, field in (('img_feats', 'img_feat'), ('text_feats', 'text_feat')):
            if key in feats:
                for sample, value in zip(data_samples, feats[key].detach().float()):
                    sample.set_field(value, field)
        return list(data_samples)

    def _check_pairs(self, inputs: Dict[str, torch.Tensor]) -> None:
        """Training needs a head and paired images and captions."""
        if getattr(self, 'head', None) is None:
            raise RuntimeError(
                f'{type(self).__name__} was built without a head; it can only run inference'
            )
        if inputs.get('img') is None or inputs.get('text') is None:
            raise ValueError('training needs paired inputs with both "img" and "text"')
