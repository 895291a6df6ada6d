# Copyright (c) tpr_mm contributors. All rights reserved.
"""Hugging Face BERT as a text tower with token outputs and attention maps.

Optional dependency: ``pip install -e .[bert]`` (transformers). The module
imports without it; building the backbone raises a clear ImportError.
"""

from pathlib import Path
from typing import Dict, Optional, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule

from tpr_mm.registry import MODELS

__all__ = ['HFBertBackbone']


def _transformers():
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            'HFBertBackbone needs the optional dependency transformers: pip install -e .[bert]'
        ) from exc
    return transformers


@MODELS.register_module()
class HFBertBackbone(BaseModule):
    """BERT text encoder (``transformers.BertModel``, no pooler) with the
    ``encode_text`` API of :class:`OpenCLIPBackbone`.

    The global feature is the final [CLS] token (CFine), not the pooler.
    Attention uses the ``'eager'`` implementation because it is the one that
    returns attention probabilities; as in the reference code they are taken
    after attention dropout, so they are noisy in training mode.

    Args:
        pretrained (str, optional): Local directory of a Hugging Face BERT
            checkpoint (``config.json`` + weights), e.g.
            ``'data/pretrained/bert-base-uncased'``. A hub name also works
            when the machine is online. Mutually exclusive with ``config``.
        config (dict, optional): ``transformers.BertConfig`` keyword arguments
            for a randomly initialised model (tests, from-scratch runs).
        pad_token_id (int): Padding id; positions holding it are masked.
            Defaults to 0 (``[PAD]`` of the uncased vocab).
        grad_checkpointing (bool): Activation checkpointing in the encoder.
        init_cfg (dict, optional): MMEngine init config.
    """

    def __init__(
        self,
        pretrained: Optional[Union[str, Path]] = None,
        config: Optional[dict] = None,
        pad_token_id: int = 0,
        grad_checkpointing: bool = False,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if (pretrained is None) == (config is None):
            raise ValueError(
                'HFBertBackbone needs exactly one of pretrained (a checkpoint '
                'directory) and config (BertConfig kwargs for random init)'
            )
        tf = _transformers()
        if pretrained is not None:
            pretrained = str(pretrained)
            looks_local = pretrained.startswith(('.', '/', '~')) or Path(pretrained).exists()
            if looks_local and not Path(pretrained).expanduser().is_dir():
                raise FileNotFoundError(
                    f'BERT checkpoint directory not found: {pretrained} (see docs/methods/cfine.md)'
                )
            self.bert = tf.BertModel.from_pretrained(
                str(Path(pretrained).expanduser()) if looks_local else pretrained,
                add_pooling_layer=False,
                attn_implementation='eager',
            )
            print_log(f'HFBertBackbone: loaded {pretrained}', logger='current')
        else:
            bert_cfg = tf.BertConfig(**config)
            bert_cfg._attn_implementation = 'eager'
            self.bert = tf.BertModel(bert_cfg, add_pooling_layer=False)
        self.pad_token_id = int(pad_token_id)
        self.text_width = int(self.bert.config.hidden_size)
        self.embed_dim = self.text_width
        self.context_length = int(self.bert.config.max_position_embeddings)
        if grad_checkpointing:
            self.bert.gradient_checkpointing_enable()

    def encode_text(
        self, text: torch.Tensor, return_tokens: bool = False, return_attention: bool = False
    ) -> Dict[str, torch.Tensor]:
        """Encode token ids (B, T): ``[CLS] ... [SEP]`` then padding.

        Returns:
            ``global`` (B, W) final [CLS] token; with ``return_tokens``:
            ``tokens`` and ``tokens_unprojected`` (B, T, W) (the same tensor:
            BERT has no projection), ``mask`` (B, T) bool (id != pad) and
            ``global_index`` (B,) zeros; with ``return_attention``:
            ``attention`` (B, T, T), last layer, head-averaged.
        """
        if text.ndim != 2 or text.is_floating_point():
            raise ValueError(
                f'text must be (B, T) integer token ids, got {tuple(text.shape)} {text.dtype}'
            )
        if text.shape[1] > self.context_length:
            raise ValueError(
                f"text has {text.shape[1]} tokens, more than BERT's "
                f'max_position_embeddings={self.context_length}'
            )
        mask = text != self.pad_token_id
        out = self.bert(
            input_ids=text, attention_mask=mask.long(), output_attentions=return_attention
        )
        hidden = out.last_hidden_state
        result = {'global': hidden[:, 0]}
        if return_tokens:
            result.update(
                tokens=hidden,
                tokens_unprojected=hidden,
                mask=mask,
                global_index=torch.zeros(text.shape[0], dtype=torch.long, device=text.device),
            )
        if return_attention:
            result['attention'] = out.attentions[-1].mean(dim=1)
        return result

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        """(B, T) ids -> (B, W) global features."""
        return self.encode_text(text)['global']
