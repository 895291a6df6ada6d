# Copyright (c) tpr_mm contributors. All rights reserved.
"""Geometric and erasing augmentations on (H, W, 3) uint8 RGB arrays.

All transforms skip items that carry no ``img`` (caption-only items).

Source: anosorae/IRRA:datasets/build.py (``build_transforms``, torchvision).
"""

import math
import random
from typing import Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from tpr_mm.registry import TRANSFORMS

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@TRANSFORMS.register_module()
class ResizeImage(BaseTransform):
    """Resize to a fixed (H, W) without keeping the aspect ratio.

    Matches torchvision's ``Resize((H, W))`` on PIL images (bilinear), the
    field's test transform.

    Modified keys: ``img``. Added keys: ``img_shape``.

    Args:
        size (tuple[int, int]): Output (H, W). Defaults to (384, 128).
        interpolation (str): ``'bilinear'`` or ``'bicubic'``.
    """

    def __init__(self, size: Sequence[int] = (384, 128), interpolation: str = 'bilinear') -> None:
        self.size = (int(size[0]), int(size[1]))
        self.resample = {'bilinear': Image.BILINEAR, 'bicubic': Image.BICUBIC}[interpolation]

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        if img is None:
            return results
        if img.shape[:2] != self.size:
            pil = Image.fromarray(img).resize((self.size[1], self.size[0]), self.resample)
            img = np.asarray(pil)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class RandomHorizontalFlip(BaseTransform):
    """Flip horizontally with probability ``prob``.

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
    """Erase a random rectangle (Zhong et al.), torchvision's sampling rule.

    The field applies erasing after normalisation with the CLIP *mean numbers*
    as the fill value; since we normalise later, in the data preprocessor, the
    default fill is the uint8 value that normalises to exactly those numbers.

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
