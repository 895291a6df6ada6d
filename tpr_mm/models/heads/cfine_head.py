# Copyright (c) tpr_mm contributors. All rights reserved.
"""Training head of CFine: CFR/FCD scores and the loss modules.

Source: shuanglinyan/CFine:train.py and shuanglinyan/CFine:utils/metric.py (``Loss``).
"""

from typing import Any, Dict, FrozenSet, Optional, Sequence, Union

import torch
import torch.nn as nn

from tpr_mm.models.utils import build_module
from tpr_mm.models.utils.builder import LossCfgs
from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures

from .base_head import BaseRetrievalHead

__all__ = ['CFineHead']

ModuleCfg = Optional[Union[dict, nn.Module]]


@MODELS.register_module()
class CFineHead(BaseRetrievalHead):
    """Losses of CFine on the outputs of :class:`~tpr_mm.models.necks.MGFNeck`.

    ``cfr`` / ``fcd`` are the training-only cross-modal scorers whose sum
    ``S = S^cs + S^cd`` (N, N) is the ``scores`` input (e.g. of the ranking
    loss). The losses may need ``img_feats`` / ``text_feats`` (the per-level
    BN'd features ``[global, group_1, ...]``, ``RetrievalFeatures.img_levels``),
    ``img_groups`` / ``text_groups`` (the group levels only), ``scores`` and
    ``labels``. The scorers read the neck's whole output from
    ``RetrievalFeatures.extras['img_mgf']`` / ``['text_mgf']``. Every part is
    optional (``None`` switches it off), so ablations are config edits. The
    retriever calls this head only in ``'loss'`` mode, so nothing here runs at
    inference.

    Args:
        losses (dict | list): Loss configs, e.g. ``dict(cmpm=dict(type='CMPMLoss'),
            cmpc=dict(type='CMPCLoss', ...), diversity=dict(type='DiversityLoss'),
            ranking=dict(type='HardestNegativeRankingLoss'))``; the dict keys
            only let configs change one loss.
        cfr (dict | nn.Module, optional): e.g. ``dict(type='CFRHead')``.
        fcd (dict | nn.Module, optional): e.g. ``dict(type='FCDHead')``.
        label_key (str): Data-sample field with identity labels. Defaults to ``'pid'``.
        init_cfg (dict, optional): Initialisation config.
    """

    provides = frozenset(
        {'img_feats', 'text_feats', 'img_groups', 'text_groups', 'scores', 'labels'}
    )

    def __init__(
        self,
        losses: LossCfgs,
        cfr: ModuleCfg = None,
        fcd: ModuleCfg = None,
        label_key: str = 'pid',
        init_cfg: Optional[dict] = None,
    ) -> None:
        # Scorers before losses: the build order (and so the seeded draws) of the reference.
        cfr, fcd = build_module(cfr), build_module(fcd)
        self._has_scores = cfr is not None or fcd is not None
        super().__init__(losses=losses, label_key=label_key, init_cfg=init_cfg)
        self.cfr, self.fcd = cfr, fcd
        if self._has_scores and 'scores' not in self.needs:
            raise ValueError(
                'CFineHead: cfr/fcd scores are only used by the ranking loss (a loss that needs '
                "'scores'); configure one or switch cfr and fcd off"
            )

    def available_inputs(self) -> FrozenSet[str]:
        """Without a scorer (cfr=fcd=None) there are no scores to provide."""
        return self.provides if self._has_scores else self.provides - {'scores'}

    def scores(self, img: dict, text: dict) -> torch.Tensor:
        """S = S^cs + S^cd over the configured scorers: (N, N), rows images."""
        total = None
        for scorer in (self.cfr, self.fcd):
            if scorer is not None:
                s = scorer(img, text)
                total = s if total is None else total + s
        return total

    def loss_inputs(self, feats: RetrievalFeatures, data_samples: Sequence) -> Dict[str, Any]:
        """Levels, groups, labels and (when needed) the cross-modal scores."""
        img_levels = feats.require('img_levels', 'CFineHead')
        text_levels = feats.require('text_levels', 'CFineHead')
        inputs = {
            'img_feats': img_levels,
            'text_feats': text_levels,
            'img_groups': img_levels[1:],
            'text_groups': text_levels[1:],
        }
        if 'labels' in self.needs:
            inputs['labels'] = self.labels(data_samples, feats.device)
        if 'scores' in self.needs:
            img_mgf = feats.require('img_mgf', 'CFineHead')
            inputs['scores'] = self.scores(img_mgf, feats.require('text_mgf', 'CFineHead'))
        return inputs

    def call_losses(self, modules, inputs: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        """As the base class; a group loss without groups (MGF off) logs 0 and adds nothing."""
        out = {}
        for m in modules:
            if not inputs['img_groups'] and m.needs & {'img_groups', 'text_groups'}:
                out[m.loss_name] = inputs['img_feats'][0].sum() * 0.0
            else:
                out.update(super().call_losses([m], inputs))
        return out

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # Checkpoints written before the loss list kept each loss in its own slot
        # (``head.cmpc.classifier_weight``); they now live in ``head.losses.<slot>``.
        if isinstance(self.losses, nn.ModuleDict):
            for slot in self.losses:
                old = f'{prefix}{slot}.'
                for key in [k for k in state_dict if k.startswith(old)]:
                    state_dict[f'{prefix}losses.{key[len(prefix) :]}'] = state_dict.pop(key)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
