# Copyright (c) tpr_mm contributors. All rights reserved.
"""RDE head: one robust loss per embedding, weighted by the clean/noisy division."""

from typing import Any, Dict, Sequence, Union

import numpy as np
import torch
import torch.nn as nn

from tpr_mm.models.utils import RunSizeBuffers, sample_indices
from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures

from .base_head import BaseRetrievalHead


@MODELS.register_module()
class RDEHead(RunSizeBuffers, BaseRetrievalHead):
    """Losses of RDE (Qin et al., CVPR 2024) on its two embeddings.

    RDE trains the global embedding (BGE: class / EOT tokens) and the
    token-selection embedding (TSE) with the same loss, each pair's loss
    multiplied by its clean (1) / noisy (0) label from the consensus division
    (``compute_rbs`` in ``QinYang79/RDE:2024-CVPR-RDE/model/objectives.py``).
    The division is installed before every epoch by
    :class:`~tpr_mm.engine.hooks.ConsensusDivisionHook` through
    :meth:`set_division` and looked up by each sample's ``sample_idx``. It is
    a buffer saved in every checkpoint, so a mid-epoch resume
    (:class:`~tpr_mm.engine.loops.MidEpochResumeTrainLoop`) keeps the division
    the epoch began with; at an epoch boundary the hook divides again. A
    checkpoint written before the buffer was persistent loads without it (the
    hook divides at the next epoch start; a mid-epoch resume from it is refused).

    The retriever passes BGE as ``RetrievalFeatures.img_global`` /
    ``text_global`` and TSE as ``extras['img_tse']`` / ``extras['text_tse']``;
    each loss gets its embedding as ``img_feats`` / ``text_feats`` with
    ``labels`` and the division ``weights``.

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

    provides = frozenset({'img_feats', 'text_feats', 'labels', 'weights', 'data_samples'})
    # One weight per training pair: N is only known once the hook ran; checkpoints store it.
    run_size_buffers = ('clean_weights',)

    def __init__(
        self,
        bge_loss: Union[dict, nn.Module],
        tse_loss: Union[dict, nn.Module],
        label_key: str = 'pid',
        require_division: bool = True,
        init_cfg=None,
    ) -> None:
        # A dict keyed by embedding: parameters stay under head.losses.bge / head.losses.tse.
        super().__init__(
            losses={'bge': bge_loss, 'tse': tse_loss}, label_key=label_key, init_cfg=init_cfg
        )
        self.require_division = require_division
        self.register_buffer('clean_weights', torch.zeros(0))

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

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ) -> None:
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        # Checkpoints written before the buffer was persistent hold no division: not an error.
        key = prefix + 'clean_weights'
        if key not in state_dict and key in missing_keys:
            missing_keys.remove(key)

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

    @staticmethod
    def embeddings(feats: RetrievalFeatures) -> Dict[str, tuple]:
        """``{'bge': (img, text), 'tse': (img, text)}``: (B, D) and (B, E) embeddings."""
        return {
            'bge': (feats.img_global, feats.text_global),
            'tse': (feats.require('img_tse', 'RDEHead'), feats.require('text_tse', 'RDEHead')),
        }

    def per_sample_losses(
        self, feats: RetrievalFeatures, data_samples: Sequence
    ) -> Dict[str, torch.Tensor]:
        """Unweighted (B,) losses per embedding: what the division fits.

        Args:
            feats (RetrievalFeatures): BGE and TSE embeddings (see the class).
            data_samples (Sequence[TextReIDDataSample]): B samples with ``label_key``.
        """
        labels = self.labels(data_samples, feats.device)
        return {
            k: self.losses[k].per_sample(img, txt, labels)
            for k, (img, txt) in self.embeddings(feats).items()
        }

    def loss(self, feats: RetrievalFeatures, data_samples: Sequence) -> Dict[str, torch.Tensor]:
        """Division-weighted loss of each embedding.

        Returns:
            dict[str, Tensor]: ``{bge loss_name: scalar, tse loss_name: scalar}``.
        """
        shared: Dict[str, Any] = {
            'labels': self.labels(data_samples, feats.device),
            'weights': self.lookup_weights(data_samples, feats.device),
            'data_samples': data_samples,
        }
        out = {}
        for key, (img, txt) in self.embeddings(feats).items():
            inputs = dict(shared, img_feats=img, text_feats=txt)
            out.update(self.call_losses([self.losses[key]], inputs))
        return out
