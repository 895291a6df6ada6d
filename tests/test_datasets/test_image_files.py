# Copyright (c) tpr_mm contributors. All rights reserved.
"""The build-time image check against a naive re-statement, and when it applies."""

import os

import pytest
from mmengine.dataset import Compose

from tpr_mm.datasets.annotation import AnnotationRecord
from tpr_mm.datasets.image_files import check_image_files, missing_images, strict_image_loader
from tpr_mm.datasets.transforms import LoadPersonImage


def _records(paths):
    return [AnnotationRecord(i, i // 2, p, ('a caption',), 'train') for i, p in enumerate(paths)]


def test_missing_images_matches_a_naive_check(tmp_path):
    for name in ('a.jpg', 'b.jpg', 'sub/c.jpg'):
        os.makedirs(os.path.dirname(tmp_path / name), exist_ok=True)
        (tmp_path / name).write_bytes(b'x')
    (tmp_path / 'dir.jpg').mkdir()  # a folder is not an image
    paths = ['a.jpg', 'gone.jpg', 'sub/c.jpg', 'gone.jpg', 'dir.jpg', 'b.jpg', 'sub/x.jpg']
    recs = _records(paths)
    naive = [r for r in recs if not os.path.isfile(os.path.join(tmp_path, r.path))]
    assert missing_images(recs, str(tmp_path)) == naive
    assert [r.index for r in naive] == [1, 3, 4, 6]


def test_error_names_file_record_field_and_count(tmp_path):
    (tmp_path / 'a.jpg').write_bytes(b'x')
    recs = _records(['a.jpg', 'x/gone.jpg', 'b.jpg'])
    pipe = Compose([LoadPersonImage()])
    with pytest.raises(FileNotFoundError) as err:
        check_image_files(recs, str(tmp_path), 'data/reid_raw.json', 'file_path', 'train', pipe)
    msg = str(err.value)
    assert msg.startswith("data/reid_raw.json: record 1: field 'file_path' names a missing image: ")
    assert os.path.join(str(tmp_path), 'x/gone.jpg') in msg
    assert "(2 of 3 'train' images missing; next: b.jpg)" in msg


def test_check_applies_only_to_strict_image_loaders(tmp_path):
    recs = _records(['gone.jpg'])
    assert strict_image_loader(Compose([LoadPersonImage()]))
    for pipe in (Compose([LoadPersonImage(on_error='skip')]), Compose([]), None):
        assert not strict_image_loader(pipe)
        check_image_files(recs, str(tmp_path), 'ann.json', 'img_path', 'train', pipe)  # no raise
