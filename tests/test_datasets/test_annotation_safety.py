# Copyright (c) tpr_mm contributors. All rights reserved.
"""Encodings, image paths that leave the image folder, and duplicate records."""

import json
import os.path as osp
from unittest import mock

import pytest

from tpr_mm.datasets import CUHKPEDES, RSTPReid
from tpr_mm.datasets.annotation import load_annotations, unsafe_path_reason
from tpr_mm.datasets.duplicates import find_duplicates

LOG = 'tpr_mm.datasets.duplicates.print_log'


def _rec(rid, path, split='train', caps=('a man in black.', 'he has a bag.')):
    return {'id': rid, 'file_path': path, 'captions': list(caps), 'split': split}


def _root(tmp_path, content, name='reid_raw.json'):
    (tmp_path / 'imgs').mkdir(parents=True)
    data = content if isinstance(content, bytes) else json.dumps(content, indent=1).encode()
    (tmp_path / name).write_bytes(data)
    return str(tmp_path)


def test_non_utf8_file_names_file_byte_and_line(tmp_path):
    recs = [_rec(1, 'a.png'), _rec(2, 'b.png', caps=['caf\u00e9 jacket'])]
    text = json.dumps(recs, indent=1, ensure_ascii=False)
    data = text.encode('latin-1')  # the e-acute is one byte 0xe9, not UTF-8
    root = _root(tmp_path, data)
    pos = data.index(b'\xe9')
    line = data[:pos].count(b'\n') + 1
    with pytest.raises(ValueError) as err:
        CUHKPEDES(root)
    msg = str(err.value)
    assert msg.startswith(osp.join(root, 'reid_raw.json') + ': not UTF-8 text')
    assert f'byte {pos} (line {line}) is ' + repr(b'\xe9') in msg


def test_utf16_file_is_named_at_byte_0(tmp_path):
    root = _root(tmp_path, json.dumps([_rec(1, 'a.png')]).encode('utf-16'))
    with pytest.raises(ValueError, match=r'reid_raw\.json: not UTF-8 text: byte 0 \(line 1\)'):
        CUHKPEDES(root)


def test_path_key_of_each_format_is_checked(tmp_path):
    recs = [{'id': 1, 'img_path': '../secret.jpg', 'captions': ['a b'], 'split': 'train'}]
    root = _root(tmp_path, recs, name='data_captions.json')
    with pytest.raises(ValueError, match=r"record 0: field 'img_path' has a '\.\.' component"):
        RSTPReid(root)


@pytest.mark.parametrize(
    'path,reason',
    [
        ('a.png', None),
        ('CUHK01/0363004.png', None),
        ('test/0027/0027_010_01_0303morning_0036_0.jpg', None),
        ('..foo/a..png', None),  # dots inside names are fine
        ('/abs.png', 'is an absolute path'),
        ('D:\\x.png', 'is an absolute path'),
        ('..', "has a '..' component"),
        ('x/..', "has a '..' component"),
    ],
)
def test_unsafe_path_reason(path, reason):
    assert unsafe_path_reason(path) == reason


def _dup_records():
    return [
        _rec(1, 'train/1_0.png'),  # 0
        _rec(1, 'train/1_1.png'),  # 1
        _rec(1, 'train/1_0.png'),  # 2: identical to 0
        _rec(2, 'train/./1_1.png'),  # 3: same image as 1, other id
        _rec(3, 'test/3_0.png', 'test'),  # 4
        _rec(3, 'train/1_0.png', 'test'),  # 5: a train image again, in test
        _rec(3, 'test/3_1.png', 'test'),  # 6
    ]


def test_find_duplicates_against_a_naive_rule(tmp_path):
    root = _root(tmp_path, _dup_records())
    records = load_annotations(osp.join(root, 'reid_raw.json'), 'file_path')
    found = [(d.record.index, d.first.index, d.identical) for d in find_duplicates(records)]
    naive = []
    for i, r in enumerate(records):
        same = [j for j in range(i) if osp.normpath(records[j].path) == osp.normpath(r.path)]
        if same:
            first = records[same[0]]
            naive.append((i, same[0], tuple(r[1:]) == tuple(first[1:])))
    assert found == naive == [(2, 0, True), (3, 1, False), (5, 0, False)]


def test_dataset_warns_with_counts_and_examples(tmp_path):
    root = _root(tmp_path, _dup_records())
    with mock.patch(LOG) as log:
        train = CUHKPEDES(root, split='train', modality='image')
    assert len(train) == 4  # duplicates are kept (and reported), as the field's loaders do
    (msg,), _ = log.call_args
    assert msg.startswith('CUHKPEDES train/image: 3 record(s) of ')
    assert '(1 identical, 2 conflicting, 1 across splits)' in msg
    assert (
        "record 2 (train) repeats file_path 'train/1_0.png' of record 0 (train): an identical"
        in msg
    )
    assert "record 3 (train) repeats file_path 'train/./1_1.png' of record 1 (train): " in msg
    assert 'same image, different id' in msg
    with mock.patch(LOG) as log:
        CUHKPEDES(root, split='test', modality='text')
    (msg,), _ = log.call_args
    assert msg.startswith('CUHKPEDES test/text: 1 record(s)')
    assert 'record 5 (test) repeats' in msg and 'different id and split' in msg


def test_no_warning_without_duplicates(tmp_path):
    root = _root(tmp_path, _dup_records()[:2])
    with mock.patch(LOG) as log:
        CUHKPEDES(root, split='train')
    log.assert_not_called()
