# Copyright (c) tpr_mm contributors. All rights reserved.
"""Truncated image files in real runs: named, counted across workers, or refused."""

import glob
import json
import os
import re
import shutil

import pytest
from PIL import Image

from tpr_mm.registry import RUNNERS


def _copy_with_truncated_images(tiny_data, tmp_path, split):
    """A copy of the tiny set whose first two ``split`` images are cut short (PNG, JPEG)."""
    root = str(tmp_path / 'data')
    shutil.copytree(tiny_data, root)
    with open(os.path.join(root, 'reid_raw.json')) as f:
        recs = [r for r in json.load(f) if r['split'] == split]
    cut = [recs[0]['file_path'], recs[4]['file_path']]
    png = os.path.join(root, 'imgs', cut[0])
    data = open(png, 'rb').read()
    open(png, 'wb').write(data[: len(data) // 2])
    jpg = os.path.join(root, 'imgs', cut[1])  # JPEG bytes under the .png name
    with Image.open(jpg) as img:
        img.convert('RGB').save(jpg + '.tmp', format='JPEG')
    data = open(jpg + '.tmp', 'rb').read()
    scan = data.index(b'\xff\xda')  # cut inside the compressed data, after the tables
    open(jpg, 'wb').write(data[: scan + (len(data) - scan) // 2])
    os.remove(jpg + '.tmp')
    return root, cut


def _log(work):
    with open(glob.glob(os.path.join(str(work), '2*', '2*.log'))[0]) as f:
        return f.read()


def _cuhk(dataset_cfg, root):
    return dict(
        type='CUHKPEDES',
        data_root=root,
        split=dataset_cfg['split'],
        modality=dataset_cfg['modality'],
        pipeline=dataset_cfg['pipeline'],
    )


def test_truncated_images_are_named_and_counted_across_persistent_workers(
    tiny_cfg, tiny_data, tmp_path
):
    root, cut = _copy_with_truncated_images(tiny_data, tmp_path, 'train')
    work = tmp_path / 'work'
    cfg = tiny_cfg(work, max_epochs=2)
    cfg.train_dataloader.dataset = _cuhk(cfg.train_dataloader.dataset, root)
    cfg.train_dataloader.num_workers = 2  # as shipped: counts must cross worker processes
    cfg.train_dataloader.persistent_workers = True
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    RUNNERS.build(cfg).train()
    log = _log(work)
    named = set(re.findall(r'truncated image file (\S+) \(image file is truncated', log))
    assert {os.path.relpath(p, os.path.join(root, 'imgs')) for p in named} == set(cut)
    # 2 files x 2 captions (pair items) read once per epoch.
    per_epoch = re.findall(r'epoch (\d): (\d+) read\(s\) of truncated image files', log)
    assert per_epoch == [('1', '4'), ('2', '4')]
    assert 'LoadPersonImage: 8 read(s) of truncated image files during training in total' in log
    assert os.path.isfile(work / 'epoch_2.pth')


def test_truncated_gallery_images_are_counted_at_test_and_refused_when_strict(
    tiny_cfg, tiny_data, tmp_path
):
    root, cut = _copy_with_truncated_images(tiny_data, tmp_path, 'test')
    for strict in (True, False):
        work = tmp_path / f'work{int(strict)}'
        cfg = tiny_cfg(work, max_epochs=1)
        cfg.test_dataloader.dataset = _cuhk(cfg.test_dataloader.dataset, root)
        if strict:
            cfg.test_dataloader.dataset['pipeline'][0] = dict(
                type='LoadPersonImage', truncated='error'
            )
        cfg.test_dataloader.num_workers = 0 if strict else 2
        cfg.test_dataloader.persistent_workers = not strict
        cfg.train_dataloader = cfg.train_cfg = cfg.optim_wrapper = cfg.param_scheduler = None
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
        runner = RUNNERS.build(cfg)
        if strict:
            path = re.escape(os.path.join(root, 'imgs', cut[0]))
            with pytest.raises(OSError, match=rf"truncated image file {path}: .*'error'"):
                runner.test()
            continue
        runner.test()
        log = _log(work)
        assert 'test: 2 read(s) of truncated image files during this evaluation' in log
        for rel in cut:
            assert f'truncated image file {os.path.join(root, "imgs", rel)} (' in log
