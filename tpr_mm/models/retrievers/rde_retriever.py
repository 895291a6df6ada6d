# Copyright (c) tpr_mm contributors. All rights reserved.
"""RDE retriever: CLIP global (BGE) and token-selection (TSE) embeddings."""

import math
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from tpr_mm.models.utils import build_module
from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures

from .base_retriever import BaseRetriever

__all__ = ['RDERetriever']

Cfg = Union[dict, nn.Module]


@MODELS.register_module()
class RDERetriever(BaseRetriever):
    """RDE (Qin et al., CVPR 2024, ``QinYang79/RDE:2024-CVPR-RDE/model/build.py``).

    One CLIP gives two embeddings per image / caption: **BGE**, the projected
    class / EOT token (CLIP's global feature), and **TSE**, the
    token-selection embedding of the tokens the global token attends to most
    (:class:`~tpr_mm.models.necks.VisualTokenSelectionEmbedding`,
    :class:`~tpr_mm.models.necks.TextTokenSelectionEmbedding`). Both towers
    run once, returning tokens and the last layer's attention.

    Retrieval scores with RDE's headline ``BGE+TSE`` similarity, the weighted
    sum ``bge_weight·cos_BGE + (1 − bge_weight)·cos_TSE`` (RDE: the average).
    It is produced as one feature, the concatenation of the unit BGE and TSE
    embeddings scaled by √w and √(1 − w): its inner products are exactly that
    sum, so every tpr_mm tool (metric, gallery index, search) ranks with it.
    ``predict`` also stores ``img_feat_bge`` / ``img_feat_tse`` (and the text
    counterparts) for the per-embedding rows of
    :class:`~tpr_mm.evaluation.TextImageRetrievalMetric` (``named_features``).

    Args:
        backbone (dict | nn.Module): ``OpenCLIPBackbone`` (token and attention outputs).
        visual_tse (dict | nn.Module): Image TSE; ``in_channels`` defaults to
            the backbone's ``embed_dim``.
        text_tse (dict | nn.Module): Caption TSE.
        head (dict | nn.Module, optional): ``RDEHead``; not needed for inference.
        bge_weight (float): Weight of the BGE similarity in the retrieval
            score. Defaults to 0.5 (RDE's BGE+TSE row).
        data_preprocessor (dict, optional): Defaults to ``TextReIDDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        backbone: Cfg,
        visual_tse: Cfg,
        text_tse: Cfg,
        head: Optional[Cfg] = None,
        bge_weight: float = 0.5,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='TextReIDDataPreprocessor')
        data_preprocessor = build_module(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if not 0.0 <= bge_weight <= 1.0:
            raise ValueError(f'bge_weight must be in [0, 1], got {bge_weight}')
        self.backbone = build_module(backbone)
        width = int(getattr(self.backbone, 'embed_dim', 512))
        self.visual_tse = build_module(visual_tse, default_args=dict(in_channels=width))
        self.text_tse = build_module(text_tse, default_args=dict(in_channels=width))
        self.head = build_module(head)
        self.bge_weight = float(bge_weight)

    # -- encoding -----------------------------------------------------------
    def encode_image(self, img: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(B, 3, H, W) -> ``bge`` (B, D) and ``tse`` (B, E), not normalised."""
        out = self.backbone.encode_image(img, return_tokens=True, return_attention=True)
        return {
            'bge': out['global'].float(),
            'tse': self.visual_tse(out['tokens'], out['attention']).float(),
        }

    def encode_text(self, text: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(B, T) token ids -> ``bge`` (B, D) and ``tse`` (B, E), not normalised."""
        out = self.backbone.encode_text(text, return_tokens=True, return_attention=True)
        return {
            'bge': out['global'].float(),
            'tse': self.text_tse(out['tokens'], text, out['attention']).float(),
        }

    def combine(self, feats: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Unit (B, D + E) feature whose inner products are the BGE+TSE similarity."""
        w = self.bge_weight
        return torch.cat(
            [
                math.sqrt(w) * F.normalize(feats['bge'], dim=-1),
                math.sqrt(1.0 - w) * F.normalize(feats['tse'], dim=-1),
            ],
            dim=-1,
        )

    def extract_img_feat(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, D + E) BGE+TSE retrieval features."""
        return self.combine(self.encode_image(img))

    def extract_text_feat(self, text: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, D + E) BGE+TSE retrieval features."""
        return self.combine(self.encode_text(text))

    def predict(self, inputs: Dict[str, torch.Tensor], data_samples: Sequence) -> List:
        """Store the BGE+TSE feature and the unit BGE / TSE features in each sample."""
        for key, field, encode in (
            ('img', 'img_feat', self.encode_image),
            ('text', 'text_feat', self.encode_text),
        ):
            if inputs.get(key) is None:
                continue
            feats = encode(inputs[key])
            columns = {
                field: self.combine(feats),
                f'{field}_bge': F.normalize(feats['bge'], dim=-1),
                f'{field}_tse': F.normalize(feats['tse'], dim=-1),
            }
            for name, values in columns.items():
                for sample, value in zip(data_samples, values.detach().float()):
                    sample.set_field(value, name)
        return list(data_samples)

    # -- training -----------------------------------------------------------
    @torch.no_grad()
    def per_sample_losses(
        self, inputs: Dict[str, torch.Tensor], data_samples: Sequence
    ) -> Dict[str, torch.Tensor]:
        """(B,) unweighted losses of the BGE and TSE embeddings (for the division)."""
        return self.head.per_sample_losses(self.features(inputs), data_samples)

    def features(self, inputs: Dict[str, torch.Tensor]) -> RetrievalFeatures:
        """BGE as the global embeddings, TSE as ``extras['img_tse']`` / ``['text_tse']``."""
        self._check_pairs(inputs)
        img, txt = self.encode_image(inputs['img']), self.encode_text(inputs['text'])
        return RetrievalFeatures(
            img['bge'], txt['bge'], extras={'img_tse': img['tse'], 'text_tse': txt['tse']}
        )

    def loss(self, inputs: Dict[str, torch.Tensor], data_samples: Sequence) -> dict:
        return self.head.loss(self.features(inputs), data_samples)
