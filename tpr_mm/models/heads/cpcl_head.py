# Copyright (c) tpr_mm contributors. All rights reserved.
"""CPCL head: pseudo labels by sample index, prototype memories, HCM losses."""

from typing import Any, Dict, FrozenSet, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from tpr_mm.models.utils import RunSizeBuffers, build_module, sample_indices
from tpr_mm.models.utils.builder import LossCfgs
from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures

from .base_head import BaseRetrievalHead


@MODELS.register_module()
class CPCLHead(RunSizeBuffers, BaseRetrievalHead):
    """Weakly supervised matching head of CPCL (docs/methods/cpcl.md).

    The head never reads identity labels. A pseudo-labelling hook calls
    :meth:`set_pseudo_labels` before every epoch with one image label and one
    text label per training pair (dataset order, -1 = outlier) and the
    features they were computed from; the head keeps the labels in buffers
    and rebuilds the Prototypical Multi-modal Memory (PMM: one
    :class:`PrototypeMemory` per modality) from them. In :meth:`loss` each
    sample's labels are looked up by its ``sample_idx`` (the index of the
    pair in the training dataset). Holding the labels in the model rather
    than in the dataset keeps them correct with persistent dataloader
    workers, which hold their own copy of the dataset.

    Each loss gets what it declares of ``img_feats``, ``text_feats``,
    ``img_labels``, ``txt_labels`` and (with a memory) ``img_protos``,
    ``txt_protos``; a loss needing prototypes without a memory is a build-time
    error. After the losses, both memories get their momentum update (no
    gradient).

    Args:
        losses (list[dict | nn.Module]): HCM terms, e.g.
            ``PseudoLabelSDMLoss``, ``IntraModalPrototypeLoss``,
            ``CrossModalPrototypeLoss``.
        memory (dict, optional): Config of one modality's memory (built twice:
            image and text). None disables PMM; then no loss may need it.
        init_cfg (dict, optional): Initialisation config.
    """

    provides = frozenset(
        {'img_feats', 'text_feats', 'img_labels', 'txt_labels', 'img_protos', 'txt_protos'}
    )
    # N (pairs) is only known once the hook ran; checkpoints store it.
    run_size_buffers = ('img_pseudo_labels', 'txt_pseudo_labels')

    def __init__(
        self,
        losses: LossCfgs,
        memory: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        self._has_memory = memory is not None  # read by available_inputs() during super().__init__
        super().__init__(losses=losses, init_cfg=init_cfg)
        self.img_memory = build_module(memory) if memory is not None else None
        self.txt_memory = build_module(memory) if memory is not None else None
        self.register_buffer('img_pseudo_labels', torch.zeros(0, dtype=torch.long))
        self.register_buffer('txt_pseudo_labels', torch.zeros(0, dtype=torch.long))

    def available_inputs(self) -> FrozenSet[str]:
        """Without a memory there are no prototypes to provide."""
        if self._has_memory:
            return self.provides
        return self.provides - {'img_protos', 'txt_protos'}

    @property
    def has_pseudo_labels(self) -> bool:
        """bool: Whether :meth:`set_pseudo_labels` has been called."""
        return self.img_pseudo_labels.numel() > 0

    @torch.no_grad()
    def set_pseudo_labels(
        self,
        img_labels: Union[np.ndarray, torch.Tensor],
        txt_labels: Union[np.ndarray, torch.Tensor],
        img_feats: Optional[Union[np.ndarray, torch.Tensor]] = None,
        txt_feats: Optional[Union[np.ndarray, torch.Tensor]] = None,
    ) -> None:
        """Install the epoch's pseudo labels and rebuild the memories.

        Args:
            img_labels (np.ndarray | Tensor): (N,) image labels per pair.
            txt_labels (np.ndarray | Tensor): (N,) text labels per pair.
            img_feats (np.ndarray | Tensor, optional): (N, D) image features
                the labels came from; required when the head has memories.
            txt_feats (np.ndarray | Tensor, optional): (N, D) text features.
        """
        device = self.img_pseudo_labels.device
        yv = torch.as_tensor(img_labels, dtype=torch.long).to(device)
        yt = torch.as_tensor(txt_labels, dtype=torch.long).to(device)
        if yv.ndim != 1 or yv.shape != yt.shape:
            raise ValueError(
                f'CPCLHead.set_pseudo_labels: img_labels and txt_labels must be '
                f'(N,) each, got {tuple(yv.shape)} and {tuple(yt.shape)}'
            )
        if self.img_memory is not None:
            if img_feats is None or txt_feats is None:
                raise ValueError(
                    'CPCLHead.set_pseudo_labels: the memories need img_feats and txt_feats'
                )
            self.img_memory.reset(img_feats, yv)
            self.txt_memory.reset(txt_feats, yt)
        self.img_pseudo_labels = yv
        self.txt_pseudo_labels = yt

    def lookup_labels(self, data_samples: Sequence) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pseudo labels of a batch, found by each sample's ``sample_idx``.

        Returns:
            tuple[Tensor, Tensor]: (B,) image labels and (B,) text labels.
        """
        if not self.has_pseudo_labels:
            raise RuntimeError(
                'CPCLHead has no pseudo labels: training needs the PseudoLabelHook in custom_hooks'
            )
        n = self.img_pseudo_labels.numel()
        device = self.img_pseudo_labels.device
        index = sample_indices(
            data_samples, n, 'CPCLHead', 'pseudo-labelled pairs', 'clustered', device
        )
        return self.img_pseudo_labels[index], self.txt_pseudo_labels[index]

    def loss_inputs(self, feats: RetrievalFeatures, data_samples: Sequence) -> Dict[str, Any]:
        """Features, the batch's pseudo labels and (with PMM) the prototypes."""
        yv, yt = self.lookup_labels(data_samples)
        inputs = {
            'img_feats': feats.img_global,
            'text_feats': feats.text_global,
            'img_labels': yv.to(feats.device),
            'txt_labels': yt.to(feats.device),
        }
        if self.img_memory is not None:
            inputs['img_protos'] = self.img_memory.prototypes
            inputs['txt_protos'] = self.txt_memory.prototypes
        return inputs

    def loss(self, feats: RetrievalFeatures, data_samples: Sequence) -> Dict[str, torch.Tensor]:
        """Compute every HCM term, then momentum-update the memories.

        Args:
            feats (RetrievalFeatures): (B, D) ``img_global`` / ``text_global``.
            data_samples (Sequence[TextReIDDataSample]): B samples with
                ``sample_idx``.

        Returns:
            dict[str, Tensor]: one scalar per loss.
        """
        inputs = self.loss_inputs(feats, data_samples)
        out = self.call_losses(self.loss_modules, inputs)
        if self.img_memory is not None:
            self.img_memory.update(feats.img_global, inputs['img_labels'])
            self.txt_memory.update(feats.text_global, inputs['txt_labels'])
        return out
