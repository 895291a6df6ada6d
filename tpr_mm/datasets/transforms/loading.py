# Copyright (c) tpr_mm contributors. All rights reserved.
"""Image loading with errors that name the file."""

from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from PIL import Image, ImageFile, UnidentifiedImageError

from tpr_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadPersonImage(BaseTransform):
    """Load an RGB person crop with PIL.

    Items without ``img_path`` (caption-only query items) pass through
    untouched, so one pipeline serves the pair, image and text views.

    Required keys: ``img_path`` (optional, see above).
    Added keys: ``img`` (np.ndarray, (H, W, 3) uint8 RGB), ``ori_shape``.

    Args:
        on_error (str): ``'raise'`` (default) raises an ``OSError`` that names
            the file when it is missing or unreadable. ``'skip'`` logs the
            file, counts it and returns ``None`` so that the dataset fetches
            another item (training only; mmengine's ``max_refetch``).
        truncated_ok (bool): Accept truncated JPEG/PNG files, as the field's
            loaders do. Defaults to True.
    """

    def __init__(self, on_error: str = 'raise', truncated_ok: bool = True) -> None:
        if on_error not in ('raise', 'skip'):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        self.on_error = on_error
        self.truncated_ok = truncated_ok
        self.num_skipped = 0

    def _read(self, path: str) -> np.ndarray:
        # PIL reads the flag at decode time; set it per call, not at import.
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = self.truncated_ok
        try:
            with Image.open(path) as img:
                return np.asarray(img.convert('RGB'))
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous

    def transform(self, results: dict) -> Optional[dict]:
        path = results.get('img_path')
        if path is None:
            return results
        try:
            img = self._read(path)
        except FileNotFoundError as exc:
            return self._fail(path, f'image file not found: {path}', exc)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            return self._fail(path, f'cannot read image file {path}: {exc}', exc)
        results['img'] = img
        results['ori_shape'] = img.shape[:2]
        return results

    def _fail(self, path: str, message: str, exc: Exception) -> None:
        if self.on_error == 'raise':
            raise OSError(message) from exc
        self.num_skipped += 1
        print_log(
            f'skipped unreadable image ({self.num_skipped} so far): {message}',
            logger='current',
            level=30,
        )
        return None

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(on_error={self.on_error!r})'
