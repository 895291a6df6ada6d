# Copyright (c) tpr_mm contributors. All rights reserved.
"""tools/dataset_converters/check_dataset.py on the fixtures and a synthetic set."""

import importlib.util
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import zlib

import pytest
from PIL import Image

from tpr_mm.datasets.synthetic import generate_synthetic_pedes

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(ROOT, 'tools', 'dataset_converters', 'check_dataset.py')
DATA = osp.join(ROOT, 'tests', 'data')


def _load_tool():
    spec = importlib.util.spec_from_file_location('check_dataset', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_dataset = _load_tool()


def _expected_counts(ann_file, split, id_offset=0):
    """Naive reference: count ids / images / captions of a split from the JSON."""
    records = [r for r in json.load(open(ann_file)) if r['split'] == split]
    ids = {r['id'] for r in records}
    return len(ids), len(records), sum(len(r['captions']) for r in records)


def _row(out: str, split: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(split + ' '))


@pytest.mark.parametrize(
    'dataset_type,folder,ann',
    [
        ('CUHKPEDES', 'CUHK-PEDES', 'reid_raw.json'),
        ('ICFGPEDES', 'ICFG-PEDES', 'ICFG-PEDES.json'),
        ('RSTPReid', 'RSTPReid', 'data_captions.json'),
    ],
)
def test_fixture_folders_pass_with_exact_counts(capsys, dataset_type, folder, ann):
    root = osp.join(DATA, folder)
    assert check_dataset.main([dataset_type, root, '--check-images']) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith('OK')
    for split in ('train', 'val', 'test'):
        expected = _expected_counts(osp.join(root, ann), split)
        row = _row(out, split)
        if expected[1] == 0:
            assert 'absent' in row
        else:
            assert ' / '.join(f'{c:,}' for c in expected) in row
            # tiny fixtures never match the published benchmark sizes
            assert ' NO ' in row


def test_icfg_has_no_val_and_published_val_is_none(capsys):
    assert check_dataset.main(['ICFGPEDES', osp.join(DATA, 'ICFG-PEDES')]) == 0
    row = _row(capsys.readouterr().out, 'val')
    assert 'absent' in row and 'yes' in row  # no val records, none published


def test_published_counts_are_irra_parse():
    pub = check_dataset.PUBLISHED
    assert pub['CUHKPEDES']['train'] == (11003, 34054, 68126)
    assert sum(v[2] for v in pub['CUHKPEDES'].values()) == 80440
    assert pub['ICFGPEDES']['val'] is None
    assert pub['RSTPReid']['test'] == (200, 1000, 2000)


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic') / 'set')
    stats = generate_synthetic_pedes(
        root,
        num_train_ids=5,
        num_val_ids=3,
        num_test_ids=2,
        images_per_id=3,
        captions_per_image=2,
        image_size=(32, 16),
        seed=3,
    )
    return root, stats


def test_generated_synthetic_set_passes(capsys, synthetic_root):
    root, _ = synthetic_root
    assert check_dataset.main(['CUHKPEDES', root, '--check-images']) == 0
    out = capsys.readouterr().out
    for split, n_ids in (('train', 5), ('val', 3), ('test', 2)):
        assert f'{n_ids} / {n_ids * 3} / {n_ids * 6}' in _row(out, split)


def test_missing_and_broken_images_fail(capsys, synthetic_root, tmp_path):
    src, _ = synthetic_root
    root = str(tmp_path / 'copy')
    shutil.copytree(src, root)
    records = json.load(open(osp.join(root, 'reid_raw.json')))
    test_recs = [r for r in records if r['split'] == 'test']
    os.remove(osp.join(root, 'imgs', test_recs[0]['file_path']))
    with open(osp.join(root, 'imgs', test_recs[1]['file_path']), 'wb') as f:
        f.write(b'not an image')
    # existence check only: the removed file is reported, the broken one is not opened
    assert check_dataset.main(['CUHKPEDES', root]) == 1
    out = capsys.readouterr().out
    assert 'missing image' in out and test_recs[0]['file_path'] in out
    assert 'unreadable' not in out
    assert check_dataset.main(['CUHKPEDES', root, '--check-images']) == 1
    out = capsys.readouterr().out
    assert 'unreadable image' in out and test_recs[1]['file_path'] in out
    assert '2 image problems' in _row(out, 'test')
    assert out.rstrip().endswith('FAILED: see the problems above')


def test_unknown_split_is_reported_or_follows_policy(capsys, synthetic_root, tmp_path):
    src, _ = synthetic_root
    root = str(tmp_path / 'copy')
    shutil.copytree(src, root)
    ann = osp.join(root, 'reid_raw.json')
    records = json.load(open(ann))
    records[0]['split'] = 'Train'  # a typo IRRA would silently put into val
    json.dump(records, open(ann, 'w'))
    assert check_dataset.main(['CUHKPEDES', root]) == 1
    assert 'Train' in capsys.readouterr().out
    assert check_dataset.main(['CUHKPEDES', root, '--unknown-split', 'val']) == 0
    out = capsys.readouterr().out
    # the moved train image brings its identity into val (3 + 1 ids)
    assert '4 / 10 / 20' in _row(out, 'val')
    assert '5 / 14 / 28' in _row(out, 'train')


def test_missing_annotation_and_folder(capsys, tmp_path):
    assert check_dataset.main(['CUHKPEDES', str(tmp_path / 'nope')]) == 1
    assert 'not a folder' in capsys.readouterr().out
    assert check_dataset.main(['RSTPReid', str(tmp_path)]) == 1
    assert 'data_captions.json' in capsys.readouterr().out


def test_command_line_entry_point():
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, TOOL, 'RSTPReid', osp.join(DATA, 'RSTPReid')],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'RSTPReid at' in proc.stdout


def test_duplicate_records_fail(capsys, synthetic_root, tmp_path):
    src, _ = synthetic_root
    root = str(tmp_path / 'copy')
    shutil.copytree(src, root)
    ann = osp.join(root, 'reid_raw.json')
    records = json.load(open(ann))
    train = [i for i, r in enumerate(records) if r['split'] == 'train']
    records.append(dict(records[train[0]]))  # a fully duplicate record
    records.append(dict(records[train[1]], split='test'))  # a train image also in test
    json.dump(records, open(ann, 'w'))
    n = len(records)
    assert check_dataset.main(['CUHKPEDES', root]) == 1
    out = capsys.readouterr().out
    path0, path1 = records[train[0]]['file_path'], records[train[1]]['file_path']
    assert (
        f"duplicate: record {n - 2} (train) repeats file_path '{path0}' of record {train[0]} "
        '(train): an identical record'
    ) in out
    assert (
        f"duplicate: record {n - 1} (test) repeats file_path '{path1}' of record {train[1]} "
        '(train): same image, different split'
    ) in out
    assert '2 record(s) repeat the image path of an earlier record' in out
    assert out.rstrip().endswith('FAILED: see the problems above')
    assert '5 / 16 / 32' in _row(out, 'train')  # the duplicate counts as an image


def test_truncated_images_and_bombs_are_reported(capsys, synthetic_root, tmp_path):
    src, _ = synthetic_root
    root = str(tmp_path / 'copy')
    shutil.copytree(src, root)
    records = [r for r in json.load(open(osp.join(root, 'reid_raw.json'))) if r['split'] == 'val']
    cut, bomb = (osp.join(root, 'imgs', r['file_path']) for r in records[:2])
    data = open(cut, 'rb').read()
    open(cut, 'wb').write(data[: len(data) // 2])
    with open(bomb, 'wb') as f:  # a PNG header declaring 100000 x 100000 pixels
        Image.new('1', (1, 1)).save(f, format='PNG')
    data = bytearray(open(bomb, 'rb').read())
    data[16:24] = (100000).to_bytes(4, 'big') * 2
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, 'big')
    open(bomb, 'wb').write(bytes(data))
    assert check_dataset.main(['CUHKPEDES', root, '--check-images']) == 1
    out = capsys.readouterr().out
    assert f'unreadable image: {cut} (OSError: truncated image file {cut}: image file is' in out
    assert f'unreadable image: {bomb} (DecompressionBombError: refusing to decode' in out
    assert '2 image problems' in _row(out, 'val')
