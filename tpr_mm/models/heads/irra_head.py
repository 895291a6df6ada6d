# Copyright (c) tpr_mm contributors. All rights reserved.
"""Training head of IRRA: global matching losses plus masked language modelling."""

from typing import List, Optional, Sequence, Union

import torch
import torch.nn as nn

from tpr_mm.models.utils import build_module, check_unique_loss_names
from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures

from .global_matching_head import GlobalMatchingHead

__all__ = ['IRRAHead']

ModuleCfg = Union[dict, nn.Module]


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
        self.irr = build_module(irr)
        self.mlm_head = build_module(mlm_head)
        self.mlm_loss = build_module(mlm_loss)
        self.check_needs([self.mlm_loss], available=frozenset({'logits', 'labels'}))
        check_unique_loss_names(self.loss_modules + [self.mlm_loss], 'IRRAHead')

    def loss(self, feats: RetrievalFeatures, data_samples: Sequence) -> dict:
        """Compute the global losses and the MLM loss.

        Args:
            feats (RetrievalFeatures): ``img_global`` / ``text_global`` (N, D),
                ``img_tokens`` (N, L, D) projected image tokens, ``mlm_tokens``
                (N, T, D) projected tokens of the masked captions and
                ``mlm_labels`` (N, T) original ids at masked positions, 0 elsewhere.
            data_samples (Sequence[TextReIDDataSample]): N samples.

        Returns:
            dict[str, Tensor]: one scalar per loss, plus ``acc_mlm`` (logged
            accuracy over the masked positions, not a loss).
        """
        img_tokens, mlm_tokens, mlm_labels = feats.img_tokens, feats.mlm_tokens, feats.mlm_labels
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
        out = super().loss(feats, data_samples)
        fused = self.irr(mlm_tokens, img_tokens)
        labels = mlm_labels.reshape(-1)
        keep = labels != self.mlm_loss.ignore_index
        logits = self.mlm_head(fused.reshape(-1, fused.shape[-1])[keep])
        out.update(self.call_losses([self.mlm_loss], {'logits': logits, 'labels': labels[keep]}))
        with torch.no_grad():
            hits = (logits.argmax(dim=1) == labels[keep]).float()
            out['acc_mlm'] = hits.mean() if hits.numel() else hits.sum()
        return out
