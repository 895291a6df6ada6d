# Copyright (c) tpr_mm contributors. All rights reserved.
"""CPCL head: pseudo labels by sample index, prototype memories, HCM losses."""

from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.model import BaseModule

from tpr_mm.registry import MODELS

from .sample_index import sample_indices


@MODELS.register_module()
class CPCLHead(BaseModule):
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

    Each loss module is called as ``loss(img_feats, text_feats,
    img_labels=, txt_labels=, img_protos=, txt_protos=)``; after the losses,
    both memories get their momentum update (no gradient).

    Args:
        losses (list[dict | nn.Module]): HCM terms, e.g.
            ``PseudoLabelSDMLoss``, ``IntraModalPrototypeLoss``,
            ``CrossModalPrototypeLoss``.
        memory (dict, optional): Config of one modality's memory (built twice:
            image and text). None disables PMM; then no loss may need it.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        losses: List[Union[dict, nn.Module]],
        memory: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        if not losses:
            raise ValueError('CPCLHead needs at least one loss')
        self.losses = nn.ModuleList(
            [MODELS.build(cfg) if isinstance(cfg, dict) else cfg for cfg in losses]
        )
        names = [getattr(m, 'loss_name', type(m).__name__) for m in self.losses]
        if len(set(names)) != len(names):
            raise ValueError(f'CPCLHead: loss names must be unique, got {names}')
        needs_memory = [
            n for n, m in zip(names, self.losses) if getattr(m, 'requires_memory', False)
        ]
        if memory is None and needs_memory:
            raise ValueError(
                f'CPCLHead: losses {needs_memory} need prototype memories but memory=None'
            )
        self.img_memory = MODELS.build(memory) if memory is not None else None
        self.txt_memory = MODELS.build(memory) if memory is not None else None
        self.register_buffer('img_pseudo_labels', torch.zeros(0, dtype=torch.long))
        self.register_buffer('txt_pseudo_labels', torch.zeros(0, dtype=torch.long))

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

    def loss(
        self, img_feats: torch.Tensor, text_feats: torch.Tensor, data_samples: Sequence
    ) -> Dict[str, torch.Tensor]:
        """Compute every HCM term, then momentum-update the memories.

        Args:
            img_feats (Tensor): (B, D) image embeddings.
            text_feats (Tensor): (B, D) embeddings of the paired captions.
            data_samples (Sequence[TextReIDDataSample]): B samples with
                ``sample_idx``.

        Returns:
            dict[str, Tensor]: one scalar per loss.
        """
        yv, yt = self.lookup_labels(data_samples)
        yv, yt = yv.to(img_feats.device), yt.to(img_feats.device)
        protos = {'img_protos': None, 'txt_protos': None}
        if self.img_memory is not None:
            protos = {
                'img_protos': self.img_memory.prototypes,
                'txt_protos': self.txt_memory.prototypes,
            }
        out = {}
        for module in self.losses:
            name = getattr(module, 'loss_name', type(module).__name__)
            out[name] = module(img_feats, text_feats, img_labels=yv, txt_labels=yt, **protos)
        if self.img_memory is not None:
            self.img_memory.update(img_feats, yv)
            self.txt_memory.update(text_feats, yt)
        return out

    def adopt_state_shapes(self, state_dict: dict, prefix: str = '') -> None:
        """Resize the label buffers to the shapes stored in ``state_dict``.

        N is only known once the hook ran, so a fresh head holds empty
        buffers; loading (or a runner's shape check) must adopt the stored N.
        """
        for name in ('img_pseudo_labels', 'txt_pseudo_labels'):
            stored = state_dict.get(prefix + name)
            if torch.is_tensor(stored) and stored.shape != getattr(self, name).shape:
                setattr(self, name, getattr(self, name).new_zeros(stored.shape))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        self.adopt_state_shapes(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
