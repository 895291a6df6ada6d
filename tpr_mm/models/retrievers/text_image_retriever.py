# Copyright (c) tpr_mm contributors. All rights reserved.
"""Two-tower text-to-image retriever: the model every method builds on."""

from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel

from tpr_mm.registry import MODELS


@MODELS.register_module()
class TextImageRetriever(BaseModel):
    """Encode images and captions into one space; train with a head's losses.

    The model only dispatches: the backbone encodes, the head owns the
    losses. Inference needs nothing but the two towers, so retrieval cost is
    one image forward per gallery item and one text forward per query.

    Modes of :meth:`forward`:
        - ``'loss'``: ``inputs`` has ``img`` (B, 3, H, W) and ``text`` (B, T)
          of paired samples; returns the head's loss dict.
        - ``'tensor'``: returns ``dict(img_feats=(B, D), text_feats=(B, D))``
          for whichever modalities are present.
        - ``'predict'``: stores ``img_feat`` / ``text_feat`` (D,) in each data
          sample and returns the samples (used by the retrieval loops).

    Args:
        backbone (dict | nn.Module): Two-tower encoder with ``encode_image``
            and ``encode_text`` returning dicts with a ``'global'`` entry,
            e.g. ``OpenCLIPBackbone``.
        head (dict | nn.Module, optional): Training head with ``loss(img_feats,
            text_feats, data_samples)``. Not needed for inference.
        data_preprocessor (dict, optional): Defaults to
            ``TextReIDDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        backbone: Union[dict, nn.Module],
        head: Optional[Union[dict, nn.Module]] = None,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='TextReIDDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone) if isinstance(backbone, dict) else backbone
        if isinstance(head, dict):
            head = MODELS.build(head)
        self.head = head

    # -- feature extraction -------------------------------------------------
    def extract_img_feat(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images -> (B, D) global embeddings."""
        return self.backbone.encode_image(img)['global']

    def extract_text_feat(self, text: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, D) global embeddings."""
        return self.backbone.encode_text(text)['global']

    def extract_feat(self, inputs: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Encode whichever modalities ``inputs`` holds."""
        feats = {}
        if inputs.get('img') is not None:
            feats['img_feats'] = self.extract_img_feat(inputs['img'])
        if inputs.get('text') is not None:
            feats['text_feats'] = self.extract_text_feat(inputs['text'])
        return feats

    # -- dispatch -----------------------------------------------------------
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

    def loss(self, inputs: Dict[str, torch.Tensor], data_samples: Sequence) -> dict:
        if self.head is None:
            raise RuntimeError(
                f'{type(self).__name__} was built without a head; it can only run inference'
            )
        if inputs.get('img') is None or inputs.get('text') is None:
            raise ValueError('training needs paired inputs with both "img" and "text"')
        feats = self.extract_feat(inputs)
        return self.head.loss(feats['img_feats'], feats['text_feats'], data_samples)

    def predict(self, inputs: Dict[str, torch.Tensor], data_samples: Sequence) -> List:
        feats = self.extract_feat(inputs)
        for key, field in (('img_feats', 'img_feat'), ('text_feats', 'text_feat')):
            if key in feats:
                values = feats[key].detach().float()
                for sample, value in zip(data_samples, values):
                    sample.set_field(value, field)
        return list(data_samples)
