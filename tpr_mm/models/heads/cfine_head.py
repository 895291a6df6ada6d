# Copyright (c) tpr_mm contributors. All rights reserved.
"""Training head of CFine: CFR/FCD scores and the loss modules.

Source: shuanglinyan/CFine:train.py and shuanglinyan/CFine:utils/metric.py (``Loss``).
"""

from typing import Dict, Optional, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tpr_mm.registry import MODELS

__all__ = ['CFineHead']

ModuleCfg = Optional[Union[dict, nn.Module]]


def _build(cfg: ModuleCfg) -> Optional[nn.Module]:
    return MODELS.build(cfg) if isinstance(cfg, dict) else cfg


@MODELS.register_module()
class CFineHead(BaseModule):
    """Losses of CFine on the outputs of :class:`~tpr_mm.models.necks.MGFNeck`.

    Every part is optional (``None`` switches it off), so ablations are config
    edits: ``cfr`` / ``fcd`` are the training-only cross-modal scorers whose
    sum ``S = S^cs + S^cd`` (N, N) feeds ``ranking``; ``cmpm`` / ``cmpc`` see
    the per-level BN'd features ``[global, group_1, ...]``; ``diversity`` sees
    the group features. The retriever calls this head only in ``'loss'`` mode,
    so nothing here runs at inference.

    Args:
        cfr (dict | nn.Module, optional): e.g. ``dict(type='CFRHead')``.
        fcd (dict | nn.Module, optional): e.g. ``dict(type='FCDHead')``.
        cmpm (dict | nn.Module, optional): e.g. ``dict(type='CMPMLoss')``.
        cmpc (dict | nn.Module, optional): e.g. ``dict(type='CMPCLoss', ...)``.
        diversity (dict | nn.Module, optional): e.g. ``dict(type='DiversityLoss')``.
        ranking (dict | nn.Module, optional): e.g.
            ``dict(type='HardestNegativeRankingLoss')``; needs ``cfr`` or ``fcd``.
        label_key (str): Data-sample field with identity labels. Defaults to ``'pid'``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        cfr: ModuleCfg = None,
        fcd: ModuleCfg = None,
        cmpm: ModuleCfg = None,
        cmpc: ModuleCfg = None,
        diversity: ModuleCfg = None,
        ranking: ModuleCfg = None,
        label_key: str = 'pid',
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.cfr, self.fcd = _build(cfr), _build(fcd)
        self.cmpm, self.cmpc = _build(cmpm), _build(cmpc)
        self.diversity, self.ranking = _build(diversity), _build(ranking)
        has_scores = self.cfr is not None or self.fcd is not None
        if self.ranking is not None and not has_scores:
            raise ValueError(
                'CFineHead: the ranking loss needs a score (cfr and/or fcd); set '
                'ranking=None when both are switched off'
            )
        if has_scores and self.ranking is None:
            raise ValueError(
                'CFineHead: cfr/fcd scores are only used by the ranking loss; '
                'configure ranking or switch them off'
            )
        losses = [m for m in (self.cmpm, self.cmpc, self.diversity, self.ranking) if m is not None]
        if not losses:
            raise ValueError('CFineHead needs at least one loss')
        names = [m.loss_name for m in losses]
        if len(set(names)) != len(names):
            raise ValueError(f'loss names must be unique, got {names}')
        self.label_key = label_key

    def scores(self, img: dict, text: dict) -> torch.Tensor:
        """S = S^cs + S^cd over the configured scorers: (N, N), rows images."""
        total = None
        for scorer in (self.cfr, self.fcd):
            if scorer is not None:
                s = scorer(img, text)
                total = s if total is None else total + s
        return total

    def loss(self, img: dict, text: dict, labels: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Compute every configured loss.

        Args:
            img (dict): :class:`MGFNeck` output of the images (N paired samples).
            text (dict): :class:`MGFNeck` output of the captions.
            labels (Tensor): (N,) identity labels.

        Returns:
            dict[str, Tensor]: one scalar per loss, keyed by ``loss_name``.
        """
        out = {}
        if self.cmpm is not None:
            out[self.cmpm.loss_name] = self.cmpm(img['feats'], text['feats'], labels)
        if self.cmpc is not None:
            out[self.cmpc.loss_name] = self.cmpc(img['feats'], text['feats'], labels)
        if self.diversity is not None:
            if len(img['feats']) > 1:
                div = self.diversity(img['feats'][1:], text['feats'][1:])
            else:  # MGF off: no group features; keep the logged key, add nothing
                div = img['feats'][0].sum() * 0.0
            out[self.diversity.loss_name] = div
        if self.ranking is not None:
            out[self.ranking.loss_name] = self.ranking(self.scores(img, text), labels)
        return out
