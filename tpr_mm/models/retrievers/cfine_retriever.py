# Copyright (c) tpr_mm contributors. All rights reserved.
"""CFine retriever: two towers (one CLIP may serve both), MGF neck, training-only head.

Source: shuanglinyan/CFine:models/model.py (``Model``).
"""

from typing import Dict, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log

from tpr_mm.models.utils import build_module
from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures

from .base_retriever import BaseRetriever

__all__ = ['CFineRetriever']

Cfg = Union[dict, nn.Module]


@MODELS.register_module()
class CFineRetriever(BaseRetriever):
    """CFine (Yan et al., TIP 2023) on an image tower and a text tower.

    Both towers return token features and the last layer's head-averaged
    attention: the image tower through ``encode_image(img, return_tokens=True,
    return_attention=True)`` (``OpenCLIPBackbone``), the text tower through
    ``encode_text`` (``OpenCLIPBackbone`` or ``HFBertBackbone``). The
    :class:`~tpr_mm.models.necks.MGFNeck` turns each into multi-grained
    features; retrieval uses their concatenation, L2-normalised, (B, (1+G)·D).
    The head (CFR/FCD scores and losses) runs in ``'loss'`` mode only.

    Text-token conventions: a tower reporting ``global_index`` (BERT) pools at
    that position; otherwise the open_clip layout is assumed (``eot_index``,
    causal mask), and the start token, whose output is the same for every
    caption under a causal mask, is never selected.

    Args:
        image_backbone (dict | nn.Module): Image tower.
        text_backbone (dict | nn.Module, optional): Text tower. None, or a
            config equal to ``image_backbone``'s, means the image backbone
            (a CLIP) encodes the text too (one module, one set of weights).
        neck (dict | nn.Module): An ``MGFNeck``.
        head (dict | nn.Module, optional): A ``CFineHead``; not needed for
            inference.
        image_token_key (str): Token entry of the image tower:
            ``'tokens'`` (projected) or ``'tokens_unprojected'`` (CFine's
            published choice: ViT width, no projection).
        text_token_key (str): Token entry of the text tower.
        freeze_unused (bool): With a separate text tower, freeze the parameters
            of the image CLIP that never run (its text tower, and ``visual.proj``
            when unprojected tokens are used), so optimisers and DDP skip them.
        data_preprocessor (dict, optional): Defaults to ``TextReIDDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        image_backbone: Cfg,
        neck: Cfg,
        text_backbone: Optional[Cfg] = None,
        head: Optional[Cfg] = None,
        image_token_key: str = 'tokens',
        text_token_key: str = 'tokens',
        freeze_unused: bool = True,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = dict(type='TextReIDDataPreprocessor')
        data_preprocessor = build_module(data_preprocessor)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        shared = text_backbone is None or (
            isinstance(text_backbone, dict) and text_backbone == image_backbone
        )
        self.image_backbone = build_module(image_backbone)
        self.text_backbone = None if shared else build_module(text_backbone)
        self.neck = build_module(neck)
        self.head = build_module(head)
        self.image_token_key = image_token_key
        self.text_token_key = text_token_key
        if not shared and freeze_unused:
            self._freeze_unused_clip_parts()

    @property
    def text_tower(self) -> nn.Module:
        """The module encoding captions (the image backbone when shared)."""
        return self.image_backbone if self.text_backbone is None else self.text_backbone

    def _freeze_unused_clip_parts(self) -> None:
        clip = getattr(self.image_backbone, 'clip', None)
        if clip is None:  # not an OpenCLIPBackbone: nothing known to be unused
            return
        frozen = 0
        for name, param in clip.named_parameters():
            used = name.startswith('visual.') and not (
                name == 'visual.proj' and self.image_token_key == 'tokens_unprojected'
            )
            if not used and param.requires_grad:
                param.requires_grad_(False)
                frozen += param.numel()
        print_log(
            f'CFineRetriever: froze {frozen / 1e6:.2f}M unused parameters of the image '
            'CLIP (text tower / projection)',
            logger='current',
        )

    # -- encoding -----------------------------------------------------------
    def encode_image(self, img: torch.Tensor) -> Dict:
        """(B, 3, H, W) -> MGF dict of the images (see ``MGFNeck``)."""
        out = self.image_backbone.encode_image(img, return_tokens=True, return_attention=True)
        tokens = out[self.image_token_key]
        b, length = tokens.shape[:2]
        candidates = torch.ones(b, length, dtype=torch.bool, device=tokens.device)
        candidates[:, 0] = False  # class token
        glob = torch.zeros(b, dtype=torch.long, device=tokens.device)
        return self.neck(tokens, out['attention'][:, 0], glob, candidates, None, 'image')

    def encode_text(self, text: torch.Tensor) -> Dict:
        """(B, T) token ids -> MGF dict of the captions (see ``MGFNeck``)."""
        out = self.text_tower.encode_text(text, return_tokens=True, return_attention=True)
        tokens, valid = out[self.text_token_key], out['mask']
        rows = torch.arange(tokens.shape[0], device=tokens.device)
        positions = torch.arange(tokens.shape[1], device=tokens.device).view(1, -1)
        if 'global_index' in out:
            glob = out['global_index']
            candidates = valid & (positions != glob.view(-1, 1))
        else:  # open_clip: SOT at 0, pooled at EOT
            glob = out['eot_index']
            candidates = valid & (positions != glob.view(-1, 1)) & (positions != 0)
        scores = out['attention'][rows, glob]
        return self.neck(tokens, scores, glob, candidates, ~valid, 'text')

    @staticmethod
    def _retrieval_feature(mgf: Dict) -> torch.Tensor:
        return F.normalize(torch.cat(mgf['feats'], dim=1), dim=1)

    def extract_img_feat(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, (1+G)·D) normalised multi-grained features."""
        return self._retrieval_feature(self.encode_image(img))

    def extract_text_feat(self, text: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, (1+G)·D) normalised multi-grained features."""
        return self._retrieval_feature(self.encode_text(text))

    def loss(self, inputs: Dict[str, torch.Tensor], data_samples: Sequence) -> dict:
        self._check_pairs(inputs)
        img, text = self.encode_image(inputs['img']), self.encode_text(inputs['text'])
        feats = RetrievalFeatures(
            img['feats'][0],
            text['feats'][0],
            img_levels=img['feats'],
            text_levels=text['feats'],
            extras={'img_mgf': img, 'text_mgf': text},
        )
        return self.head.loss(feats, data_samples)
