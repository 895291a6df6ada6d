# Copyright (c) tpr_mm contributors. All rights reserved.
"""Size-true synthetic sets: exact counts, JPEG files, resumable writing."""

import json
import os
import signal

import numpy as np
import pytest
from PIL import Image

from tpr_mm.datasets import CUHKPEDES
from tpr_mm.datasets.synthetic import size_true
from tpr_mm.datasets.synthetic.attributes import sample_identities
from tpr_mm.datasets.synthetic.render import render_person
from tpr_mm.datasets.synthetic.size_true import PRESETS, split_layout


def test_presets_hold_the_real_counts():
    assert PRESETS['cuhk-size'] == {
        'train': (11003, 34054, 68126),
        'val': (1000, 3078, 6158),
        'test': (1000, 3074, 6156),
    }
    assert PRESETS['icfg-size']['test'] == (1000, 19848, 19848)
    for splits in PRESETS.values():
        for s, (ids, images, captions) in enumerate(splits.values()):
            per_id, per_img = split_layout(ids, images, captions, np.random.default_rng(s))
            assert len(per_id) == ids and per_id.min() >= 1 and per_id.sum() == images
            assert len(per_img) == images and per_img.min() >= 1 and per_img.sum() == captions


def test_tiny_preset_written_resumed_and_parsed(tmp_path, monkeypatch):
    monkeypatch.setitem(PRESETS, 'tiny', {'train': (4, 7, 13), 'val': (2, 3, 3), 'test': (2, 3, 5)})
    monkeypatch.setitem(size_true.ANN_FILES, 'tiny', 'reid_raw.json')
    root = tmp_path / 'set'
    stats = size_true.generate_size_true(str(root), 'tiny', seed=1, workers=2, progress=False)
    assert stats['train'] == {'ids': 4, 'images': 7, 'captions': 13}
    records = json.loads((root / 'reid_raw.json').read_text())
    assert len(records) == 13 and sum(len(r['captions']) for r in records) == 21
    paths = [root / 'imgs' / r['file_path'] for r in records]
    sizes = [Image.open(p).size for p in paths]
    assert all(Image.open(p).format == 'JPEG' for p in paths)
    assert all(160 <= h <= 400 and 2.0 <= h / w <= 3.3 for w, h in sizes)
    assert len(set(sizes)) > 3  # crop sizes vary like real detections
    # Captions are written for the view the renderer drew (also on resume).
    people = sample_identities(8, np.random.default_rng([1, 0, 0, 0]))
    views = set()
    for pid in range(1, 9):
        for k in range(3):
            _, view = render_person(
                people[pid - 1], np.random.default_rng([1, pid, k, 1]), (64, 24)
            )
            assert size_true.image_view(1, pid, k) == view
            views.add(view)
    assert len(views) == 3
    # Resume: a deleted image is written again, the others are kept as they are.
    mtimes = {p: os.stat(p).st_mtime_ns for p in paths}
    os.remove(paths[2])
    size_true.generate_size_true(str(root), 'tiny', seed=1, workers=1, progress=False)
    assert paths[2].exists()
    assert all(os.stat(p).st_mtime_ns == t for p, t in mtimes.items() if p != paths[2])
    assert json.loads((root / 'reid_raw.json').read_text()) == records
    train = CUHKPEDES(data_root=str(root), split='train', modality='pair', pipeline=[])
    assert len(train) == 13 and train.metainfo['num_images'] == 7
    assert not list((root / 'imgs').rglob('*.tmp'))


def test_size_true_never_writes_into_a_users_folder(tmp_path, monkeypatch):
    monkeypatch.setitem(PRESETS, 'tiny', {'train': (2, 2, 2), 'val': (1, 1, 1), 'test': (1, 1, 1)})
    monkeypatch.setitem(size_true.ANN_FILES, 'tiny', 'reid_raw.json')
    user = tmp_path / 'thesis'
    user.mkdir()
    (user / 'reid_raw.json').write_text('my annotations')
    with pytest.raises(FileExistsError, match="thesis'.*not empty and has no size_true_owner"):
        size_true.generate_size_true(str(user), 'tiny', seed=0, workers=1, progress=False)
    assert (user / 'reid_raw.json').read_text() == 'my annotations'
    assert sorted(p.name for p in user.iterdir()) == ['reid_raw.json']
    # A set started with another preset or seed is not "completed" with this one either.
    ours = tmp_path / 'ours'
    size_true.generate_size_true(str(ours), 'tiny', seed=0, workers=1, progress=False)
    with pytest.raises(FileExistsError, match='seed 0 .*asked.*seed 3'):
        size_true.generate_size_true(str(ours), 'tiny', seed=3, workers=1, progress=False)
    a_file = tmp_path / 'a_file'
    a_file.write_text('x')
    with pytest.raises(FileExistsError, match='is a file'):
        size_true.generate_size_true(str(a_file), 'tiny', seed=0, workers=1, progress=False)


def _task_that_dies_on_pid_3(args):
    if args[2] == 3:  # the OOM killer, as far as the parent can tell
        os.kill(os.getpid(), signal.SIGKILL)
    return _real_task(args)


_real_task = size_true._task


def test_worker_killed_mid_write_is_an_error_not_a_hang(tmp_path, monkeypatch):
    """multiprocessing.Pool.imap waited forever for a killed worker's chunk."""
    monkeypatch.setitem(PRESETS, 'tiny', {'train': (4, 7, 13), 'val': (2, 3, 3), 'test': (2, 3, 5)})
    monkeypatch.setitem(size_true.ANN_FILES, 'tiny', 'reid_raw.json')
    monkeypatch.setattr(size_true, '_task', _task_that_dies_on_pid_3)  # forked workers see it
    root = tmp_path / 'set'
    with pytest.raises(RuntimeError, match=r'set: a worker process .* died abruptly .* rerun'):
        size_true.generate_size_true(str(root), 'tiny', seed=1, workers=2, progress=False)
    assert not (root / 'reid_raw.json').exists()  # incomplete: no annotation, no meta
    assert not (root / size_true.META_FILE).exists()
    monkeypatch.setattr(size_true, '_task', _real_task)
    stats = size_true.generate_size_true(str(root), 'tiny', seed=1, workers=2, progress=False)
    assert stats['train']['images'] == 7  # the rerun finishes it
