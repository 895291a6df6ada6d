# Copyright (c) tpr_mm contributors. All rights reserved.
"""Flip, pad-crop and erasing augmentations on (H, W, 3) uint8 RGB arrays.

Resizing is MMCV's ``Resize`` (``backend='pillow'``), which equals
torchvision's ``Resize((H, W))`` on PIL images. The three transforms here are
kept beside MMCV's ``RandomFlip`` and MMPretrain's ``RandomCrop`` /
``RandomErasing``; each class says why (docs/datasets.md, "Transforms").
All of them skip items that carry no ``img``: LCR²S's
:class:`~tpr_mm.datasets.SupportSetDataset` sends support *captions* through
the training pipeline.

Source: anosorae/IRRA:datasets/build.py (``build_transforms``, torchvision).
"""

import math
import random
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from tpr_mm.registry import TRANSFORMS

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@TRANSFORMS.register_module()
class RandomHorizontalFlip(BaseTransform):
    """Flip horizontally with probability ``prob``.

    Why not MMCV's ``RandomFlip(prob, direction='horizontal')``: it flips the
    same pixels, but reads ``results['img']`` unconditionally when it decides
    to flip, so a caption-only item (an LCR²S support caption) raises
    ``KeyError``; and it draws from NumPy's global generator where this one
    draws from Python's ``random``, so swapping would change the augmentations
    of every seeded run.

    Modified keys: ``img``. Added keys: ``flip``.
    """

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = prob

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        if img is None:
            return results
        flip = random.random() < self.prob
        if flip:
            results['img'] = np.ascontiguousarray(img[:, ::-1])
        results['flip'] = flip
        return results


@TRANSFORMS.register_module()
class PadRandomCrop(BaseTransform):
    """Zero-pad every side by ``padding`` then crop the original size at random.

    torchvision's ``Pad(p)`` + ``RandomCrop((H, W))``: both offsets uniform in
    ``[0, 2p]``. Why not MMPretrain's ``RandomCrop(crop_size, padding)``: on the
    same offsets it gives the same pixels, but it reads ``results['img']``
    unconditionally (``KeyError`` on caption-only items), needs the crop size
    restated in the config, and draws from NumPy's generator, not Python's.

    Modified keys: ``img``.
    """

    def __init__(self, padding: int = 10) -> None:
        self.padding = padding

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        if img is None or self.padding <= 0:
            return results
        h, w = img.shape[:2]
        p = self.padding
        padded = np.zeros((h + 2 * p, w + 2 * p, img.shape[2]), dtype=img.dtype)
        padded[p : p + h, p : p + w] = img
        top = random.randint(0, 2 * p)
        left = random.randint(0, 2 * p)
        results['img'] = np.ascontiguousarray(padded[top : top + h, left : left + w])
        return results


@TRANSFORMS.register_module()
class RandomErasingImage(BaseTransform):
    """Erase a random rectangle (Zhong et al.) with torchvision's sampling rule.

    torchvision's rule (IRRA's ``RandomErasing(scale=(0.02, 0.4))``): up to
    10 attempts, each drawing an area fraction in ``scale`` then a log-uniform
    aspect ratio, rejecting rectangles not strictly inside the image; offsets
    uniform over every position, bottom/right edge included. Why not
    MMPretrain's ``RandomErasing``: it makes one attempt, draws the aspect
    before the area, clips an oversized rectangle to the image instead of
    rejecting it, never places it at the last row/column
    (``randint(0, H - h)``), writes into the input array, and needs an image.

    The field erases *after* normalisation, filling with the CLIP mean
    numbers; we normalise later, in the data preprocessor, so the default fill
    is the uint8 value nearest to the one that normalises to those numbers
    (within 0.5 / 255 / std, about 0.008 in normalised units).

    Modified keys: ``img``.

    Args:
        prob (float): Probability of erasing. Defaults to 0.5.
        scale (tuple[float, float]): Erased area fraction range.
        ratio (tuple[float, float]): Aspect ratio range.
        fill (Sequence[float] | None): RGB fill in 0–255; None = field default.
    """

    def __init__(
        self,
        prob: float = 0.5,
        scale: Tuple[float, float] = (0.02, 0.4),
        ratio: Tuple[float, float] = (0.3, 3.3),
        fill=None,
    ) -> None:
        self.prob = prob
        self.scale = scale
        self.log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        if fill is None:
            fill = [255.0 * (m + m * s) for m, s in zip(CLIP_MEAN, CLIP_STD)]
        self.fill = np.clip(np.round(np.asarray(fill, dtype=np.float64)), 0, 255).astype(np.uint8)

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        if img is None or random.random() >= self.prob:
            return results
        h, w = img.shape[:2]
        area = h * w
        for _ in range(10):
            target = area * random.uniform(*self.scale)
            aspect = math.exp(random.uniform(*self.log_ratio))
            eh = int(round(math.sqrt(target * aspect)))
            ew = int(round(math.sqrt(target / aspect)))
            if eh < h and ew < w:
                top = random.randint(0, h - eh)
                left = random.randint(0, w - ew)
                img = img.copy()
                img[top : top + eh, left : left + ew] = self.fill
                results['img'] = img
                break
        return results
