# Copyright (c) tpr_mm contributors. All rights reserved.
"""IRRA retriever: the two CLIP towers, trained with SDM/ID plus token-level MLM."""

from typing import Dict, Sequence

import torch

from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures

from .text_image_retriever import TextImageRetriever

__all__ = ['IRRARetriever']


@MODELS.register_module()
class IRRARetriever(TextImageRetriever):
    """IRRA (Jiang & Ye, CVPR 2023; ``anosorae/IRRA:model/build.py``).

    Inference is :class:`TextImageRetriever`'s: the two towers' global
    embeddings (projected class token, projected EOT token). Training
    (``'loss'`` mode) additionally needs ``inputs['mlm_text']`` and
    ``inputs['mlm_labels']`` (B, T) from ``MaskCaptionTokens`` and passes the
    image tokens and the masked caption's tokens to an :class:`IRRAHead`.

    When the global branch already trains on the masked caption (IRRA as
    published, ``MaskCaptionTokens(replace_text=True)``), ``text`` equals
    ``mlm_text`` and one text forward serves both branches; the reference runs
    the same input twice, which gives the same features and gradients (the
    CLIP towers have no dropout). With clean captions the masked caption gets
    its own forward, as in the reference.

    The backbone's ``trim_text_padding`` is switched off: IRR's self-attention
    over the masked caption has no padding mask, so padding positions change
    the fused features of the masked tokens and IRRA encodes every position.

    Args: as :class:`TextImageRetriever`; ``head`` should be an ``IRRAHead``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if getattr(self.backbone, 'trim_text_padding', False):
            self.backbone.trim_text_padding = False

    def loss(self, inputs: Dict[str, torch.Tensor], data_samples: Sequence) -> dict:
        self._check_pairs(inputs)
        mlm_text, mlm_labels = inputs.get('mlm_text'), inputs.get('mlm_labels')
        if mlm_text is None or mlm_labels is None:
            raise ValueError(
                'IRRARetriever training needs inputs "mlm_text" and "mlm_labels"; add '
                "dict(type='MaskCaptionTokens') after TokenizeCaption in the train pipeline"
            )
        img = self.backbone.encode_image(inputs['img'], return_tokens=True)
        text = inputs['text']
        if text.shape == mlm_text.shape and torch.equal(text, mlm_text):
            out = self.backbone.encode_text(text, return_tokens=True)
            text_global, mlm_tokens = out['global'], out['tokens']
        else:
            text_global = self.backbone.encode_text(text)['global']
            mlm_tokens = self.backbone.encode_text(mlm_text, return_tokens=True)['tokens']
        feats = RetrievalFeatures(
            img['global'],
            text_global,
            img_tokens=img['tokens'],
            mlm_tokens=mlm_tokens,
            mlm_labels=mlm_labels,
        )
        return self.head.loss(feats, data_samples)
