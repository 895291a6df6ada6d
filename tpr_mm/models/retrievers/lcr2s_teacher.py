# Copyright (c) tpr_mm contributors. All rights reserved.
"""LCR²S teacher: the "richer" model that fuses each sample with its support set."""

from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from tpr_mm.models.utils import build_module
from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures

from .text_image_retriever import TextImageRetriever

SUPPORT_SOURCES = ('dataset', 'batch', 'none')


def in_batch_support(
    pids: torch.Tensor, view_ids: torch.Tensor, k: int, generator: Optional[torch.Generator] = None
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Pick up to ``k`` other views of the same identity from the batch.

    A view of row i is a row j with ``pids[j] == pids[i]`` and
    ``view_ids[j] != view_ids[i]``; rows showing the same view (e.g. two
    captions of one image, for images) count once. Picks are random.

    Args:
        pids (Tensor): (B,) identities.
        view_ids (Tensor): (B,) image ids (image supports) or caption ids.
        k (int): Maximum support-set size.
        generator (torch.Generator, optional): Source of randomness.

    Returns:
        tuple[Tensor, Tensor]: (B, K) row indices into the batch (0 where
        padded) and (B, K) bool validity, K = the largest set drawn (<= k).
    """
    b = pids.numel()
    pid_l, view_l = pids.tolist(), view_ids.tolist()
    chosen = []
    for i in range(b):
        seen, cands = {view_l[i]}, []
        for j in range(b):
            if pid_l[j] == pid_l[i] and view_l[j] not in seen:
                seen.add(view_l[j])
                cands.append(j)
        if len(cands) > k:
            perm = torch.randperm(len(cands), generator=generator)[:k].tolist()
            cands = [cands[p] for p in perm]
        chosen.append(cands)
    width = max([len(c) for c in chosen] + [0])
    index = torch.zeros(b, width, dtype=torch.long)
    valid = torch.zeros(b, width, dtype=torch.bool)
    for i, cands in enumerate(chosen):
        index[i, : len(cands)] = torch.tensor(cands, dtype=torch.long)
        valid[i, : len(cands)] = True
    return index.to(pids.device), valid.to(pids.device)


def build_on_embed(cfg: Union[dict, nn.Module], backbone: nn.Module) -> nn.Module:
    """Build a module config, filling ``embed_dims`` from ``backbone.embed_dim`` if absent."""
    if not isinstance(cfg, dict):
        return cfg
    return build_module(cfg, default_args=dict(embed_dims=int(backbone.embed_dim)))


def _field(data_samples: Sequence, key: str, device: torch.device) -> torch.Tensor:
    values = []
    for i, sample in enumerate(data_samples):
        if key not in sample:
            raise KeyError(f'data sample {i} has no {key!r}; in-batch support sets need it')
        values.append(int(sample.get(key)))
    return torch.tensor(values, dtype=torch.long, device=device)


@MODELS.register_module()
class LCR2STeacher(TextImageRetriever):
    """Backbone + per-modality multi-head attentional fusion with support sets.

    Training (``'loss'``): every anchor's global feature g is fused with the
    global features of its support set, ``e = MHAF(g | [g; g_s1..g_sK])``,
    and the head's losses align the enriched image and text features.
    Supports come from ``support_source``:

    * ``'dataset'``: ``inputs['support_img']`` (B, K, 3, H, W) and
      ``inputs['support_text']`` (B, K', T) from :class:`SupportSetDataset`,
      encoded by the same backbone (gradients flow through them);
    * ``'batch'``: other rows of the batch with the same ``pid`` (different
      ``image_id`` / ``caption_id``), up to ``batch_img_support`` /
      ``batch_text_support`` each; use :class:`IdentitySampler`;
    * ``'none'``: no supports (ablation: the fusion sees the anchor only).

    Inference (``'predict'`` / ``'tensor'``) has no support sets: the
    single-input path fuses the anchor with itself only (K = 0), the same
    function the student distils from when an identity has no other view.

    Args:
        backbone (dict | nn.Module): Two-tower encoder (``OpenCLIPBackbone``).
        img_fusion (dict | nn.Module): Image ``MultiHeadAttentionalFusion``;
            ``embed_dims`` defaults to the backbone's ``embed_dim``.
        text_fusion (dict | nn.Module): Text ``MultiHeadAttentionalFusion``.
        head (dict | nn.Module, optional): Task losses on enriched features.
        support_source (str): ``'dataset'``, ``'batch'`` or ``'none'``.
        batch_img_support (int): Max in-batch image supports. Defaults to 3.
        batch_text_support (int): Max in-batch caption supports. Defaults to 3.
        data_preprocessor (dict, optional): Defaults to
            ``SupportSetDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        backbone: Union[dict, nn.Module],
        img_fusion: Union[dict, nn.Module],
        text_fusion: Union[dict, nn.Module],
        head: Optional[Union[dict, nn.Module]] = None,
        support_source: str = 'dataset',
        batch_img_support: int = 3,
        batch_text_support: int = 3,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        if support_source not in SUPPORT_SOURCES:
            raise ValueError(
                f'support_source must be one of {SUPPORT_SOURCES}, got {support_source!r}'
            )
        if data_preprocessor is None:
            data_preprocessor = {'type': 'SupportSetDataPreprocessor'}
        super().__init__(backbone, head, data_preprocessor, init_cfg)
        self.img_fusion = build_on_embed(img_fusion, self.backbone)
        self.text_fusion = build_on_embed(text_fusion, self.backbone)
        self.support_source = support_source
        self.batch_img_support = int(batch_img_support)
        self.batch_text_support = int(batch_text_support)

    # -- single-input path (inference) -------------------------------------
    def extract_img_feat(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, D): fusion of the image with itself only."""
        return self.img_fusion(self.backbone.encode_image(img)['global'])

    def extract_text_feat(self, text: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, D): fusion of the caption with itself only."""
        return self.text_fusion(self.backbone.encode_text(text)['global'])

    # -- support-set path (training, distillation targets) -----------------
    def _dataset_supports(
        self,
        encode,
        anchors: torch.Tensor,
        support: Optional[torch.Tensor],
        data_samples: Sequence,
        key: str,
        ids_key: str,
    ):
        if support is None:
            if (
                data_samples
                and ids_key in data_samples[0]
                and len(data_samples[0].get(ids_key)) == 0
            ):
                support = anchors.new_zeros((anchors.shape[0], 0) + anchors.shape[1:])
            else:
                raise KeyError(
                    f"support_source='dataset' but the batch has no {key!r}; wrap the "
                    'training dataset in SupportSetDataset and use '
                    'SupportSetDataPreprocessor'
                )
        b, k = support.shape[:2]
        feats = encode(torch.cat([anchors, support.flatten(0, 1)]))['global']
        glob, sup = feats[:b], feats[b:].view(b, k, -1)
        return glob, sup, None

    def _batch_supports(self, glob: torch.Tensor, data_samples: Sequence, view_key: str, k: int):
        pids = _field(data_samples, 'pid', glob.device)
        views = _field(data_samples, view_key, glob.device)
        index, valid = in_batch_support(pids, views, k)
        return glob[index], valid

    def encode_with_support(
        self, inputs: Dict[str, torch.Tensor], data_samples: Sequence
    ) -> Dict[str, torch.Tensor]:
        """Global features of anchors and of their support sets.

        Returns:
            dict: ``img_global`` (B, D), ``img_support`` (B, K, D),
            ``img_support_mask`` (B, K) bool or None (all valid), and the
            same three ``text_*`` entries.
        """
        out = {}
        for mod, encode, k in (
            ('img', self.backbone.encode_image, self.batch_img_support),
            ('text', self.backbone.encode_text, self.batch_text_support),
        ):
            anchors = inputs[mod]
            if self.support_source == 'dataset':
                ids_key = 'support_image_ids' if mod == 'img' else 'support_caption_ids'
                glob, sup, mask = self._dataset_supports(
                    encode,
                    anchors,
                    inputs.get(f'support_{mod}'),
                    data_samples,
                    f'support_{mod}',
                    ids_key,
                )
            else:
                glob = encode(anchors)['global']
                if self.support_source == 'batch':
                    view_key = 'image_id' if mod == 'img' else 'caption_id'
                    sup, mask = self._batch_supports(glob, data_samples, view_key, k)
                else:
                    sup, mask = glob.new_zeros(glob.shape[0], 0, glob.shape[1]), None
            out.update({f'{mod}_global': glob, f'{mod}_support': sup, f'{mod}_support_mask': mask})
        return out

    def extract_enriched(
        self, inputs: Dict[str, torch.Tensor], data_samples: Sequence
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Enriched ("richer") features of paired inputs with their supports.

        Returns:
            tuple[Tensor, Tensor]: (B, D) image and (B, D) text features.
        """
        if inputs.get('img') is None or inputs.get('text') is None:
            raise ValueError('the LCR²S teacher needs paired inputs with both "img" and "text"')
        enc = self.encode_with_support(inputs, data_samples)
        e_v = self.img_fusion(enc['img_global'], enc['img_support'], enc['img_support_mask'])
        e_t = self.text_fusion(enc['text_global'], enc['text_support'], enc['text_support_mask'])
        return e_v, e_t

    def loss(self, inputs: Dict[str, torch.Tensor], data_samples: Sequence) -> dict:
        if self.head is None:
            raise RuntimeError('LCR2STeacher was built without a head; it can only run inference')
        e_v, e_t = self.extract_enriched(inputs, data_samples)
        return self.head.loss(RetrievalFeatures(e_v, e_t), data_samples)
