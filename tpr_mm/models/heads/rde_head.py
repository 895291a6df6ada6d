# Copyright (c) tpr_mm contributors. All rights reserved.
"""RDE head: one robust loss per embedding, weighted by the clean/noisy division."""

from typing import Dict, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tpr_mm.registry import MODELS

from .global_matching_head import labels_from_samples
from .sample_index import sample_indices

EMBEDDINGS = ('bge', 'tse')


@MODELS.register_module()
class RDEHead(BaseModule):
    """Losses of RDE (Qin et al., CVPR 2024) on its two embeddings.

    RDE trains the global embedding (BGE: class / EOT tokens) and the
    token-selection embedding (TSE) with the same loss, each pair's loss
    multiplied by its clean (1) / noisy (0) label from the consensus division
    (``compute_rbs`` in ``QinYang79/RDE:2024-CVPR-RDE/model/objectives.py``).
    The division is installed before every epoch by
    :class:`~tpr_mm.engine.hooks.ConsensusDivisionHook` through
    :meth:`set_division` and looked up by each sample's ``sample_idx``. It is
    kept in a non-persistent buffer: checkpoints do not carry it, and the hook
    recomputes it at the start of every (also a resumed) epoch.

    Args:
        bge_loss (dict | nn.Module): Loss of the global embedding, with
            ``per_sample(img, txt, labels)`` and ``forward(img, txt, labels,
            weights=)``, e.g. ``TALLoss``.
        tse_loss (dict | nn.Module): Loss of the token-selection embedding.
        label_key (str): Data-sample field used as identity labels.
        require_division (bool): Raise in :meth:`loss` when no division was
            installed (default). False trains every pair as clean (no
            noisy-correspondence handling).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        bge_loss: Union[dict, nn.Module],
        tse_loss: Union[dict, nn.Module],
        label_key: str = 'pid',
        require_division: bool = True,
        init_cfg=None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.losses = nn.ModuleDict(
            {
                'bge': MODELS.build(bge_loss) if isinstance(bge_loss, dict) else bge_loss,
                'tse': MODELS.build(tse_loss) if isinstance(tse_loss, dict) else tse_loss,
            }
        )
        names = [getattr(m, 'loss_name', k) for k, m in self.losses.items()]
        if len(set(names)) != len(names):
            raise ValueError(f'RDEHead: the two losses need different loss_name, got {names}')
        self.label_key = label_key
        self.require_division = require_division
        self.register_buffer('clean_weights', torch.zeros(0), persistent=False)

    @property
    def has_division(self) -> bool:
        """bool: Whether :meth:`set_division` has been called."""
        return self.clean_weights.numel() > 0

    @torch.no_grad()
    def set_division(self, clean: Union[np.ndarray, torch.Tensor]) -> None:
        """Install the epoch's per-pair weights: (N,), 1 = clean, 0 = noisy (dataset order)."""
        weights = torch.as_tensor(np.asarray(clean), dtype=torch.float32)
        if weights.ndim != 1 or weights.numel() == 0:
            raise ValueError(
                f'RDEHead.set_division: expected (N,) weights, got {tuple(weights.shape)}'
            )
        self.clean_weights = weights.to(self.clean_weights.device)

    def lookup_weights(self, data_samples: Sequence, device: torch.device) -> torch.Tensor:
        """(B,) division weights of a batch, found by ``sample_idx``."""
        if not self.has_division:
            if self.require_division:
                raise RuntimeError(
                    'RDEHead has no clean/noisy division: add ConsensusDivisionHook to '
                    'custom_hooks, or set require_division=False to train every pair as clean'
                )
            return torch.ones(len(data_samples), device=device)
        n = self.clean_weights.numel()
        index = sample_indices(
            data_samples, n, 'RDEHead', 'divided pairs', 'divided', self.clean_weights.device
        )
        return self.clean_weights[index].to(device)

    def per_sample_losses(
        self,
        img_feats: Dict[str, torch.Tensor],
        text_feats: Dict[str, torch.Tensor],
        labels: torch.Tensor,
    ) -> Dict[str, torch.Tensor]:
        """Unweighted (B,) losses per embedding: what the division fits.

        Args:
            img_feats (dict): ``bge`` (B, D) and ``tse`` (B, E) image embeddings.
            text_feats (dict): The same for the paired captions.
            labels (Tensor): (B,) identity labels.
        """
        return {
            k: self.losses[k].per_sample(img_feats[k], text_feats[k], labels) for k in EMBEDDINGS
        }

    def loss(
        self,
        img_feats: Dict[str, torch.Tensor],
        text_feats: Dict[str, torch.Tensor],
        data_samples: Sequence,
    ) -> Dict[str, torch.Tensor]:
        """Division-weighted loss of each embedding.

        Returns:
            dict[str, Tensor]: ``{bge loss_name: scalar, tse loss_name: scalar}``.
        """
        device = img_feats['bge'].device
        labels = labels_from_samples(data_samples, self.label_key, device)
        weights = self.lookup_weights(data_samples, device)
        out = {}
        for key in EMBEDDINGS:
            module = self.losses[key]
            name = getattr(module, 'loss_name', f'loss_{key}')
            out[name] = module(img_feats[key], text_feats[key], labels, weights=weights)
        return out
