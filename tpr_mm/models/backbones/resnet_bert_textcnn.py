# Copyright (c) tpr_mm contributors. All rights reserved.
"""Two towers of the TIPCB family: ResNet + stripes for images, frozen BERT + TextCNN for text.

Source: OrangeYHChen/TIPCB:models/model.py and OrangeYHChen/TIPCB:models/CNN_text.py.
"""

from typing import Dict, Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tpr_mm.models.utils import build_module
from tpr_mm.registry import MODELS

__all__ = ['ResNetBertTextCNN']

Cfg = Union[dict, nn.Module]


@MODELS.register_module()
class ResNetBertTextCNN(BaseModule):
    """Images: :class:`PartPoolingResNet`; text: BERT words + :class:`ResidualTextCNN`.

    The published LCR²S backbone as reported by peer tables ("RN50 +
    BERT/TextCNN"), built like TIPCB (OrangeYHChen/TIPCB:models/model.py):
    BERT runs frozen (no gradient, never in the optimizer's updates), its
    last hidden states (B, T, 768) feed the text CNN. TIPCB puts BERT in eval
    mode once, when it is built, but its ``train.py`` calls
    ``network.train()`` every epoch, so in training BERT's dropout is active
    (under ``no_grad``); ``frozen_bert_dropout=True`` reproduces that, False
    keeps the frozen BERT in eval mode always (deterministic word features).
    Both towers give a global feature and ``P`` part features of the same
    size D (2048 for ResNet-50).

    It offers the ``encode_image`` / ``encode_text`` API of
    :class:`OpenCLIPBackbone`, so :class:`LCR2STeacher` and
    :class:`LCR2SStudent` run on it unchanged: ``'global'`` (B, D); with
    ``return_tokens`` also ``tokens`` (B, 1 + P, D) = [global; parts] (the
    student's reasoning layer reads slot 0), ``mask`` (B, 1 + P) all True and
    ``global_index`` (B,) zeros.

    Args:
        image_encoder (dict | nn.Module): ``PartPoolingResNet``.
        bert (dict | nn.Module): ``HFBertBackbone`` (word features).
        text_cnn (dict | nn.Module): ``ResidualTextCNN``; its ``in_channels``
            must equal BERT's hidden size.
        freeze_bert (bool): Keep BERT frozen (TIPCB). Defaults to True.
        frozen_bert_dropout (bool): A frozen BERT follows the module's
            train/eval mode (dropout in training, TIPCB's code) instead of
            staying in eval mode. Defaults to False.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        image_encoder: Cfg,
        bert: Cfg,
        text_cnn: Cfg,
        freeze_bert: bool = True,
        frozen_bert_dropout: bool = False,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.image_encoder = build_module(image_encoder)
        self.bert = build_module(bert)
        self.text_cnn = build_module(text_cnn)
        width = int(getattr(self.bert, 'text_width', self.text_cnn.in_channels))
        if width != self.text_cnn.in_channels:
            raise ValueError(
                f'text_cnn.in_channels={self.text_cnn.in_channels} but BERT gives {width}-d words'
            )
        if self.image_encoder.out_channels != self.text_cnn.out_channels:
            raise ValueError(
                f'image features are {self.image_encoder.out_channels}-d but text features '
                f'{self.text_cnn.out_channels}-d; set text_cnn.out_channels to match'
            )
        self.embed_dim = int(self.text_cnn.out_channels)
        self.context_length = getattr(self.bert, 'context_length', None)
        self.freeze_bert = freeze_bert
        self.frozen_bert_dropout = frozen_bert_dropout
        if freeze_bert:
            self.bert.requires_grad_(False)
            self.bert.eval()

    def train(self, mode: bool = True) -> 'ResNetBertTextCNN':
        """Set the mode; a frozen BERT stays in eval mode unless ``frozen_bert_dropout``."""
        super().train(mode)
        if self.freeze_bert and not self.frozen_bert_dropout:
            self.bert.eval()
        return self

    @staticmethod
    def _with_tokens(out: Dict[str, torch.Tensor], return_tokens: bool) -> Dict:
        result = {'global': out['global'], 'parts': out['parts']}
        if return_tokens:
            tokens = torch.cat([out['global'].unsqueeze(1), out['parts']], dim=1)
            b, n = tokens.shape[:2]
            result.update(
                tokens=tokens,
                mask=torch.ones(b, n, dtype=torch.bool, device=tokens.device),
                global_index=torch.zeros(b, dtype=torch.long, device=tokens.device),
            )
        return result

    def encode_image(self, img: torch.Tensor, return_tokens: bool = False) -> Dict:
        """(B, 3, H, W) -> ``global`` (B, D), ``parts`` (B, P, D) [+ tokens]."""
        return self._with_tokens(self.image_encoder(img), return_tokens)

    def encode_words(self, text: torch.Tensor) -> Dict[str, torch.Tensor]:
        """(B, T) ids -> BERT ``tokens`` (B, T, W) and ``mask`` (B, T)."""
        if self.freeze_bert:
            with torch.no_grad():
                out = self.bert.encode_text(text, return_tokens=True)
        else:
            out = self.bert.encode_text(text, return_tokens=True)
        return {'tokens': out['tokens'], 'mask': out['mask']}

    def encode_text(self, text: torch.Tensor, return_tokens: bool = False) -> Dict:
        """(B, T) BERT ids -> ``global`` (B, D), ``parts`` (B, P, D) [+ tokens]."""
        words = self.encode_words(text)
        return self._with_tokens(self.text_cnn(words['tokens'], words['mask']), return_tokens)
