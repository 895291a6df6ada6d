# Copyright (c) tpr_mm contributors. All rights reserved.
"""Truncated image files are named and counted (or refused); decompression bombs are refused."""

import re
import struct
import zlib
from unittest import mock

import numpy as np
import pytest
from PIL import Image, ImageFile

from tpr_mm.registry import TRANSFORMS

LOG = 'tpr_mm.datasets.transforms.loading.print_log'


def _load(**kwargs):
    return TRANSFORMS.build(dict(type='LoadPersonImage', **kwargs))


def _truncated(tmp_path, fmt: str, keep: float = 0.6):
    """An image file cut after ``keep`` of its bytes, and the PIL-tolerant decode of it."""
    arr = np.random.default_rng(0).integers(0, 255, (48, 20, 3), dtype=np.uint8)
    full = tmp_path / f'full.{fmt}'
    Image.fromarray(arr).save(full)
    data = full.read_bytes()
    path = tmp_path / f'cut.{fmt}'
    path.write_bytes(data[: int(len(data) * keep)])
    previous, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, True
    try:
        with Image.open(path) as img:
            tolerant = np.asarray(img.convert('RGB'))
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
    return str(path), tolerant


def _png_header(path, width: int, height: int) -> str:
    """A PNG whose header declares ``width x height`` RGB pixels (a bomb's first bytes)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack('>I', len(body)) + kind + body + struct.pack('>I', zlib.crc32(kind + body))
        )

    ihdr = struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0)
    body = chunk(b'IHDR', ihdr) + chunk(b'IDAT', zlib.compress(b'\0' * 64)) + chunk(b'IEND', b'')
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + body)
    return str(path)


@pytest.mark.parametrize('fmt', ['png', 'jpg'])
def test_truncated_file_is_decoded_named_once_and_counted(fmt, tmp_path):
    path, tolerant = _truncated(tmp_path, fmt)
    with pytest.raises(OSError, match='truncated'):  # strict PIL does not decode it
        with Image.open(path) as img:
            img.load()
    load = _load()
    with mock.patch(LOG) as log:
        out = load(dict(img_path=path))
        again = load(dict(img_path=path))
    assert np.array_equal(out['img'], tolerant) and np.array_equal(again['img'], tolerant)
    assert load.num_truncated == 2 and load.num_skipped == 0
    (msg,), kwargs = log.call_args  # one warning for the file, not one per read
    assert log.call_count == 1 and kwargs['level'] == 30
    assert msg.startswith(f'truncated image file {path} (image file is truncated')
    assert "LoadPersonImage(truncated='error')" in msg
    full = tmp_path / f'full.{fmt}'
    with mock.patch(LOG) as log:
        load(dict(img_path=str(full)))
    assert load.num_truncated == 2 and not log.called  # an intact file is not counted


@pytest.mark.parametrize('fmt', ['png', 'jpg'])
def test_strict_option_refuses_truncated_files(fmt, tmp_path):
    path, _ = _truncated(tmp_path, fmt)
    with pytest.raises(OSError, match=rf"truncated image file {path}: .*truncated='error'"):
        _load(truncated='error')(dict(img_path=path))
    skip = _load(truncated='error', on_error='skip')
    with mock.patch(LOG) as log:
        assert skip(dict(img_path=path)) is None
    assert skip.num_skipped == 1 and skip.num_truncated == 0
    assert f'truncated image file {path}' in log.call_args.args[0]


def test_unreadable_file_is_not_called_truncated(tmp_path):
    bad = tmp_path / 'bad.png'
    bad.write_bytes(b'\x89PNG\r\n\x1a\n garbage')
    load = _load()
    with pytest.raises(OSError, match=f'cannot read image file {bad}'):
        load(dict(img_path=str(bad)))
    assert load.num_truncated == 0


@pytest.mark.parametrize(
    'size,kwargs,reason',
    [
        # beyond PIL's own error limit
        ((100_000, 100_000), {}, r'Image size \(10000000000 pixels\) exceeds limit'),
        # 64 Mpx: below PIL's limits, above max_pixels
        ((8_000, 8_000), {}, '8000 x 8000 = 64,000,000 pixels, more than max_pixels=50,000,000'),
        # PIL's DecompressionBombWarning, turned into an error
        ((10_000, 10_000), {'max_pixels': 200_000_000}, r'\(100000000 pixels\) exceeds limit'),
    ],
)
@pytest.mark.parametrize('on_error', ['raise', 'skip'])
def test_decompression_bomb_is_an_error_naming_the_file(size, kwargs, reason, on_error, tmp_path):
    path = _png_header(tmp_path / 'bomb.png', *size)
    load = _load(on_error=on_error, **kwargs)
    with pytest.raises(Image.DecompressionBombError) as err:
        load(dict(img_path=path))
    assert str(err.value).startswith(
        f'refusing to decode image file {path}: possible decompression bomb ('
    )
    assert re.search(reason, str(err.value)) and 'LoadPersonImage(max_pixels=...)' in str(err.value)
    assert load.num_skipped == 0


def test_max_pixels_applies_to_real_images_and_arguments_are_checked(tmp_path):
    path = tmp_path / 'a.png'
    Image.fromarray(np.zeros((30, 10, 3), np.uint8)).save(path)
    assert _load(max_pixels=300)(dict(img_path=str(path)))['img'].shape == (30, 10, 3)
    with pytest.raises(Image.DecompressionBombError, match='10 x 30 = 300 pixels, more than'):
        _load(max_pixels=299)(dict(img_path=str(path)))
    with pytest.raises(ValueError, match='truncated must be one of'):
        _load(truncated='ok')
    with pytest.raises(ValueError, match='max_pixels must be a positive int'):
        _load(max_pixels=0)
