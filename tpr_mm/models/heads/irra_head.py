# Copyright (c) tpr_mm contributors. All rights reserved.
"""Training head of IRRA: global matching losses plus masked language modelling."""

from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn

from tpr_mm.registry import MODELS

from .global_matching_head import GlobalMatchingHead

__all__ = ['IRRAHead']

ModuleCfg = Union[dict, nn.Module]


def _build(cfg: ModuleCfg) -> nn.Module:
    return MODELS.build(cfg) if isinstance(cfg, dict) else cfg


@MODELS.register_module()
class IRRAHead(GlobalMatchingHead):
    """IRRA's losses (Jiang & Ye, CVPR 2023; ``anosorae/IRRA:model/build.py``).

    The global losses (``losses``, e.g. SDM and ID) see the paired global
    embeddings as in :class:`GlobalMatchingHead`. Implicit relation reasoning:
    the masked caption's tokens attend to the image tokens in ``irr``
    (:class:`~tpr_mm.models.fusion.IRREncoder`), ``mlm_head`` predicts the
    original ids and ``mlm_loss`` scores them. The retriever calls this head in
    ``'loss'`` mode only, so none of it runs at inference.

    Only the labelled (masked) positions go through ``mlm_head``: the head is
    applied per token and the cross-entropy ignores the other positions, so
    the loss and its gradients equal the reference's (which scores all T
    positions) at ~15 % of the (B·T, V) logits' memory.

    Args:
        losses (list[dict | nn.Module]): Global losses (see
            :class:`GlobalMatchingHead`).
        irr (dict | nn.Module): Cross-modal encoder. Its parameter names carry
            ``cross`` (the optimiser's rule); do not rename the attribute.
        mlm_head (dict | nn.Module): Vocabulary classifier, e.g.
            ``MLMPredictionHead``; its parameter names carry ``mlm_head``.
        mlm_loss (dict | nn.Module, optional): Defaults to ``dict(type='MLMLoss')``.
        label_key (str): Data-sample field with identity labels.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        losses: List[ModuleCfg],
        irr: ModuleCfg,
        mlm_head: ModuleCfg,
        mlm_loss: Optional[ModuleCfg] = None,
        label_key: str = 'pid',
        init_cfg: Optional[dict] = None,
    ) -> None:
        # Build order as the reference (classifier, cross-modal encoder, MLM
        # head) so seeded builds draw the same numbers.
        super().__init__(losses=losses, label_key=label_key, init_cfg=init_cfg)
        if mlm_loss is None:
            mlm_loss = dict(type='MLMLoss')
        self.irr = _build(irr)
        self.mlm_head = _build(mlm_head)
        self.mlm_loss = _build(mlm_loss)
        names = [getattr(m, 'loss_name', type(m).__name__) for m in self.losses]
        if self.mlm_loss.loss_name in names:
            raise ValueError(f'loss names must be unique, got {names + [self.mlm_loss.loss_name]}')

    def loss(
        self,
        img_feats: torch.Tensor,
        text_feats: torch.Tensor,
        data_samples: Sequence,
        img_tokens: Optional[torch.Tensor] = None,
        mlm_tokens: Optional[torch.Tensor] = None,
        mlm_labels: Optional[torch.Tensor] = None,
    ) -> dict:
        """Compute the global losses and the MLM loss.

        Args:
            img_feats (Tensor): (N, D) global image embeddings.
            text_feats (Tensor): (N, D) global text embeddings (paired).
            data_samples (Sequence[TextReIDDataSample]): N samples.
            img_tokens (Tensor): (N, L, D) projected image tokens.
            mlm_tokens (Tensor): (N, T, D) projected tokens of the masked captions.
            mlm_labels (Tensor): (N, T) original ids at masked positions, 0 elsewhere.

        Returns:
            dict[str, Tensor]: one scalar per loss, plus ``acc_mlm`` (logged
            accuracy over the masked positions, not a loss).
        """
        if img_tokens is None or mlm_tokens is None or mlm_labels is None:
            raise ValueError(
                'IRRAHead needs image tokens, masked-caption tokens and MLM labels; '
                'is MaskCaptionTokens missing from the training pipeline?'
            )
        if mlm_labels.shape != mlm_tokens.shape[:2]:
            raise ValueError(
                f'mlm_labels {tuple(mlm_labels.shape)} do not match the masked-caption '
                f'tokens {tuple(mlm_tokens.shape[:2])}'
            )
        out = super().loss(img_feats, text_feats, data_samples)
        fused = self.irr(mlm_tokens, img_tokens)
        labels = mlm_labels.reshape(-1)
        keep = labels != self.mlm_loss.ignore_index
        logits = self.mlm_head(fused.reshape(-1, fused.shape[-1])[keep])
        out[self.mlm_loss.loss_name] = self.mlm_loss(logits, labels[keep])
        with torch.no_grad():
            hits = (logits.argmax(dim=1) == labels[keep]).float()
            out['acc_mlm'] = hits.mean() if hits.numel() else hits.sum()
        return out
