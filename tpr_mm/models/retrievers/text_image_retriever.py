# Copyright (c) tpr_mm contributors. All rights reserved.
"""Two-tower text-to-image retriever: the model every method builds on."""

from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn

from tpr_mm.models.utils import build_module
from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures

from .base_retriever import BaseRetriever


@MODELS.register_module()
class TextImageRetriever(BaseRetriever):
    """Encode images and captions into one space; train with a head's losses.

    The model only dispatches: the backbone encodes, the head owns the
    losses. Inference needs nothing but the two towers, so retrieval cost is
    one image forward per gallery item and one text forward per query.

    Modes of :meth:`forward` as :class:`BaseRetriever`; ``'loss'`` returns
    the head's loss dict for paired ``img`` (B, 3, H, W) and ``text`` (B, T).

    Args:
        backbone (dict | nn.Module): Two-tower encoder with ``encode_image``
            and ``encode_text`` returning dicts with a ``'global'`` entry,
            e.g. ``OpenCLIPBackbone``.
        head (dict | nn.Module, optional): Training head with ``loss(feats,
            data_samples)`` (:class:`~tpr_mm.models.heads.BaseRetrievalHead`).
            Not needed for inference.
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
        data_preprocessor = build_module(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = build_module(backbone)
        self.head = build_module(head)

    # -- feature extraction -------------------------------------------------
    def extract_img_feat(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) normalised images -> (B, D) global embeddings."""
        return self.backbone.encode_image(img)['global']

    def extract_text_feat(self, text: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, D) global embeddings."""
        return self.backbone.encode_text(text)['global']

    def loss(self, inputs: Dict[str, torch.Tensor], data_samples: Sequence) -> dict:
        self._check_pairs(inputs)
        feats = self.extract_feat(inputs)
        return self.head.loss(
            RetrievalFeatures(feats['img_feats'], feats['text_feats']), data_samples
        )
