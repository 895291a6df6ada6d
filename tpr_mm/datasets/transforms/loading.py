# Copyright (c) tpr_mm contributors. All rights reserved.
"""Image loading with errors that name the file."""

import logging
import warnings
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from mmengine.logging import print_log
from PIL import Image, ImageFile, UnidentifiedImageError

from tpr_mm.registry import TRANSFORMS

TRUNCATED_POLICIES = ('warn', 'error')
_DECODE_ERRORS = (UnidentifiedImageError, OSError, SyntaxError, ValueError)


class _Truncated(Exception):
    """A file PIL decodes only with ``LOAD_TRUNCATED_IMAGES`` (internal signal)."""

    def __init__(self, cause: Exception, img: Optional[np.ndarray]) -> None:
        super().__init__(str(cause))
        self.cause, self.img = cause, img


@TRANSFORMS.register_module()
class LoadPersonImage(BaseTransform):
    """Load an RGB person crop with PIL.

    Items without ``img_path`` (caption-only query items) pass through
    untouched, so one pipeline serves the pair, image and text views.

    Why not MMCV's ``LoadImageFromFile``: it needs ``img_path`` on every item
    (``KeyError`` on caption-only items), returns BGR where our pipelines and
    data preprocessors are RGB, and has neither the truncated-file policy nor
    the decompression-bomb guard below.

    **Truncated files** (PNG/JPEG whose data ends early) are decoded strictly
    first; a file that only decodes with PIL's ``LOAD_TRUNCATED_IMAGES`` (the
    missing part filled in) is truncated. ``truncated='warn'`` (default, as
    the field's loaders accept such files) uses that image, names the file in
    a warning (once per file and loader process) and counts it in
    ``num_truncated``, which :class:`~tpr_mm.engine.hooks.DataIssueReportHook`
    shares across dataloader workers and reports per epoch and evaluation.
    ``truncated='error'`` treats the file as unreadable (see ``on_error``).

    **Decompression bombs.** An image whose header declares more than
    ``max_pixels`` pixels (or trips PIL's own ``DecompressionBombWarning``)
    raises :class:`PIL.Image.DecompressionBombError` naming the file, before
    anything is decoded, whatever ``on_error`` says.

    Required keys: ``img_path`` (optional, see above).
    Added keys: ``img`` (np.ndarray, (H, W, 3) uint8 RGB), ``ori_shape``.

    Args:
        on_error (str): ``'raise'`` (default) raises an ``OSError`` that names
            the file when it is missing or unreadable. ``'skip'`` logs the
            file, counts it and returns ``None`` so that the dataset fetches
            another item (training only; mmengine's ``max_refetch``).
        truncated (str): ``'warn'`` (default) or ``'error'``, see above.
        max_pixels (int): Largest ``width * height`` accepted. Defaults to
            50,000,000 (person crops are far below 1,000,000).
    """

    def __init__(
        self, on_error: str = 'raise', truncated: str = 'warn', max_pixels: int = 50_000_000
    ) -> None:
        if on_error not in ('raise', 'skip'):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if truncated not in TRUNCATED_POLICIES:
            raise ValueError(f'truncated must be one of {TRUNCATED_POLICIES}, got {truncated!r}')
        if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
            raise ValueError(f'max_pixels must be a positive int, got {max_pixels!r}')
        self.on_error = on_error
        self.truncated = truncated
        self.max_pixels = max_pixels
        self.num_skipped = 0
        self.num_truncated = 0  # reads of truncated files (a file read twice counts twice)
        self._warned = set()  # files already named in a warning by this process

    def _decode(self, path: str, tolerant: bool) -> np.ndarray:
        # PIL reads the flag at decode time; set it per call, not at import.
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = tolerant
        try:
            with warnings.catch_warnings():
                warnings.simplefilter('error', Image.DecompressionBombWarning)
                img = Image.open(path)  # reads the header only
            with img:
                width, height = img.size
                if width * height > self.max_pixels:
                    raise Image.DecompressionBombError(
                        f'{width} x {height} = {width * height:,} pixels, more than '
                        f'max_pixels={self.max_pixels:,}'
                    )
                return np.asarray(img.convert('RGB'))
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous

    def _read(self, path: str) -> np.ndarray:
        try:
            try:
                return self._decode(path, tolerant=False)
            except FileNotFoundError:
                raise
            except _DECODE_ERRORS as strict_err:
                try:
                    img = self._decode(path, tolerant=True)
                except _DECODE_ERRORS:
                    raise strict_err from None
                raise _Truncated(strict_err, img) from strict_err
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise Image.DecompressionBombError(
                f'refusing to decode image file {path}: possible decompression bomb ({exc}); '
                'raise LoadPersonImage(max_pixels=...) if the image is genuine'
            ) from exc

    def transform(self, results: dict) -> Optional[dict]:
        path = results.get('img_path')
        if path is None:
            return results
        try:
            img = self._read(path)
        except FileNotFoundError as exc:
            return self._fail(path, f'image file not found: {path}', exc)
        except _Truncated as exc:
            if self.truncated == 'error':
                return self._fail(
                    path, f"truncated image file {path}: {exc} (truncated='error')", exc.cause
                )
            img = self._note_truncated(path, exc)
        except _DECODE_ERRORS as exc:
            return self._fail(path, f'cannot read image file {path}: {exc}', exc)
        results['img'] = img
        results['ori_shape'] = img.shape[:2]
        return results

    def _note_truncated(self, path: str, exc: _Truncated) -> np.ndarray:
        self.num_truncated += 1
        if path not in self._warned:
            self._warned.add(path)
            print_log(
                f'truncated image file {path} ({exc}): decoded with the missing part filled in '
                f'({self.num_truncated} truncated read(s) so far in this process); set '
                "LoadPersonImage(truncated='error') to refuse such files",
                logger='current',
                level=logging.WARNING,
            )
        return exc.img

    def _fail(self, path: str, message: str, exc: Exception) -> None:
        if self.on_error == 'raise':
            raise OSError(message) from exc
        self.num_skipped += 1
        print_log(
            f'skipped unreadable image ({self.num_skipped} so far): {message}',
            logger='current',
            level=logging.WARNING,
        )
        return None

    def __repr__(self) -> str:
        return (
            f'{self.__class__.__name__}(on_error={self.on_error!r}, '
            f'truncated={self.truncated!r}, max_pixels={self.max_pixels})'
        )
