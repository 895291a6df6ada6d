# Copyright (c) tpr_mm contributors. All rights reserved.
"""Dataset wrapper that attaches a support set of same-identity views (LCR²S)."""

import copy
import random
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from tpr_mm.registry import DATASETS


def draw_support(
    candidates: Sequence[int], anchor: int, k: int, rng: random.Random
) -> Tuple[List[int], bool]:
    """Draw ``k`` views other than ``anchor`` from ``candidates``.

    Every other view is used once (in random order) before any repeats; when
    there are fewer than ``k`` of them the rest is drawn with replacement.
    With no other view at all the anchor itself is returned ``k`` times (the
    caller loads it again, i.e. with a fresh random augmentation).

    Args:
        candidates (Sequence[int]): Distinct view ids of one identity.
        anchor (int): The anchor's view id (excluded).
        k (int): Support-set size.
        rng (random.Random): Source of randomness.

    Returns:
        tuple[list[int], bool]: ``k`` view ids and whether the anchor had to
        stand in for missing views.
    """
    others = [c for c in candidates if c != anchor]
    if k <= 0:
        return [], False
    if not others:
        return [anchor] * k, True
    picked = rng.sample(others, min(k, len(others)))
    picked += [rng.choice(others) for _ in range(k - len(picked))]
    return picked, False


@DATASETS.register_module()
class SupportSetDataset(Dataset):
    """Give every training pair K other images and K' other captions of its identity.

    The wrapped dataset must be a ``modality='pair'`` text re-id split with
    identity labels. Supports are drawn from the *whole* wrapped dataset
    (not the batch), so any sampler works. A support image is any other
    image of the anchor's identity (``image_id`` differs); a support caption
    is any other caption of it (``caption_id`` differs; the second caption of
    the anchor's own image counts). Identities with a single image (or a
    single caption) use the anchor itself, loaded again through the training
    pipeline so that it gets a different augmentation; the data sample flags
    this (``support_img_fallback`` / ``support_text_fallback``).

    Each item is the wrapped dataset's packed item with two more inputs:
    ``support_img`` uint8 (K, 3, H, W) and ``support_text`` int64 (K', T),
    and metainfo ``support_image_ids`` / ``support_caption_ids`` (lists) plus
    the two fallback flags. Use :class:`SupportSetDataPreprocessor` to batch
    them.

    Args:
        dataset (dict | Dataset): The wrapped pair dataset or its config.
        num_img_support (int): K, images per support set. Defaults to 2.
        num_text_support (int): K', captions per support set. Defaults to 3.
        seed (int, optional): Seed of a private generator; None (default)
            draws from Python's global ``random``, which MMEngine seeds per
            dataloader worker, so supports differ across epochs and workers.
        lazy_init (bool): Defer indexing to :meth:`full_init`.
    """

    def __init__(
        self,
        dataset: Union[dict, Dataset],
        num_img_support: int = 2,
        num_text_support: int = 3,
        seed: Union[int, None] = None,
        lazy_init: bool = False,
    ) -> None:
        if num_img_support < 0 or num_text_support < 0:
            raise ValueError(
                'num_img_support and num_text_support must be >= 0, got '
                f'{num_img_support} and {num_text_support}'
            )
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.num_img_support = int(num_img_support)
        self.num_text_support = int(num_text_support)
        self._rng = random.Random(seed) if seed is not None else random
        self._meta = copy.deepcopy(getattr(self.dataset, 'metainfo', {}))
        self._ready = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self._meta)

    def full_init(self) -> None:
        """Index images and captions of every identity of the wrapped dataset."""
        if self._ready:
            return
        if hasattr(self.dataset, 'full_init'):
            self.dataset.full_init()
        self._images: Dict[int, str] = {}
        self._captions: Dict[int, str] = {}
        img_by_pid: Dict[int, set] = defaultdict(set)
        cap_by_pid: Dict[int, set] = defaultdict(set)
        self._pid_of_image: Dict[int, int] = {}
        name = type(self.dataset).__name__
        for idx in range(len(self.dataset)):
            info = self.dataset.get_data_info(idx)
            for key in ('pid', 'image_id', 'caption_id', 'img_path', 'caption'):
                if key not in info:
                    raise KeyError(
                        f'SupportSetDataset: item {idx} of {name} has no {key!r}; '
                        "wrap a modality='pair' text re-id dataset"
                    )
            pid = int(info['pid'])
            if pid < 0:
                raise ValueError(
                    f'SupportSetDataset: item {idx} of {name} has pid={pid}; '
                    "support sets need identity labels (identity='keep')"
                )
            self._images[info['image_id']] = info['img_path']
            self._captions[info['caption_id']] = info['caption']
            self._pid_of_image[info['image_id']] = pid
            img_by_pid[pid].add(info['image_id'])
            cap_by_pid[pid].add(info['caption_id'])
        self._img_by_pid = {p: sorted(v) for p, v in img_by_pid.items()}
        self._cap_by_pid = {p: sorted(v) for p, v in cap_by_pid.items()}
        self._ready = True

    @property
    def pids(self) -> np.ndarray:
        """np.ndarray: Shape (len(self),), identity of every item."""
        return self.dataset.pids

    def single_view_ids(self) -> Tuple[List[int], List[int]]:
        """Identities with one image only, and with one caption only."""
        self.full_init()
        return (
            [p for p, v in self._img_by_pid.items() if len(v) < 2],
            [p for p, v in self._cap_by_pid.items() if len(v) < 2],
        )

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(idx)

    def __len__(self) -> int:
        return len(self.dataset)

    def _load_view(self, info: dict) -> torch.Tensor:
        packed = self.dataset.pipeline(info)
        if packed is None:
            raise RuntimeError(
                f'SupportSetDataset: the pipeline returned None for support view {info}'
            )
        key = 'img' if 'img_path' in info else 'text'
        return packed['inputs'][key]

    def __getitem__(self, idx: int) -> dict:
        self.full_init()
        item = self.dataset[idx]
        info = self.dataset.get_data_info(idx)
        pid, image_id, caption_id = int(info['pid']), info['image_id'], info['caption_id']
        img_ids, img_fallback = draw_support(
            self._img_by_pid[pid], image_id, self.num_img_support, self._rng
        )
        cap_ids, cap_fallback = draw_support(
            self._cap_by_pid[pid], caption_id, self.num_text_support, self._rng
        )
        base = {'pid': pid, 'raw_id': info.get('raw_id', -1), 'sample_idx': -1}
        imgs = [
            self._load_view(dict(base, img_path=self._images[i], image_id=i, modality='image'))
            for i in img_ids
        ]
        texts = [
            self._load_view(dict(base, caption=self._captions[c], caption_id=c, modality='text'))
            for c in cap_ids
        ]
        if imgs:
            item['inputs']['support_img'] = torch.stack(imgs)
        if texts:
            item['inputs']['support_text'] = torch.stack(texts)
        item['data_samples'].set_metainfo(
            {
                'support_image_ids': img_ids,
                'support_caption_ids': cap_ids,
                'support_img_fallback': img_fallback,
                'support_text_fallback': cap_fallback,
            }
        )
        return item
