# Copyright (c) tpr_mm contributors. All rights reserved.
"""The prepare step writes each synthetic set a config names; datasets only read."""

import os
import shlex

import pytest
from mmengine.config import Config

from tpr_mm.apis import prepare_data, synthetic_sets
from tpr_mm.datasets import SyntheticPEDES
from tpr_mm.datasets.synthetic import synthetic_params_match

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = dict(num_train_ids=2, num_val_ids=1, num_test_ids=1, images_per_id=1, image_size=(32, 16))


def _ds(root, **kw):
    return {'type': 'SyntheticPEDES', 'data_root': str(root), 'split': 'train', **TINY, **kw}


def test_sets_are_found_everywhere_once(tmp_path):
    a, b = tmp_path / 'a', tmp_path / 'b'
    cfg = dict(
        train_dataloader=dict(dataset=dict(type='SupportSetDataset', dataset=_ds(a))),
        val_dataloader=dict(dataset=dict(_ds(a), split='val', pipeline=[])),
        custom_hooks=[
            dict(type='SomeHook', dataloader=dict(dataset=_ds(b, type='tpr_mm.SyntheticPEDES')))
        ],
        other=dict(type='CUHKPEDES', data_root='data/CUHK-PEDES'),
        corpus=dict(num_train_ids=5),  # parameters alone (e.g. exclude_identities_of) are no set
    )
    sets = synthetic_sets(cfg)
    assert [root for root, _ in sets] == [str(a), str(b)]
    assert sets[0][1] == dict(TINY)  # split, pipeline and type are not generator parameters
    with pytest.raises(ValueError, match='different parameters'):
        synthetic_sets(dict(cfg, test_dataloader=dict(dataset=_ds(a, seed=3))))


def test_prepare_writes_once_and_the_dataset_reads(tmp_path):
    root = tmp_path / 'set'
    cfg = Config(dict(train_dataloader=dict(dataset=_ds(root, generator_options=None))))
    assert prepare_data(cfg) == [str(root)]
    assert synthetic_params_match(str(root), **TINY)
    stamp = (root / 'synthetic_meta.json').stat().st_mtime_ns
    assert prepare_data(cfg) == [str(root)]  # reused
    assert (root / 'synthetic_meta.json').stat().st_mtime_ns == stamp
    assert len(SyntheticPEDES(str(root), split='train', modality='image', **TINY)) == 2
    assert prepare_data(dict(train_dataloader=None)) == []


def test_missing_set_names_the_folder_and_a_command_that_writes_it(tmp_path, monkeypatch):
    root = tmp_path / 'missing'
    with pytest.raises(FileNotFoundError, match='the folder does not exist') as err:
        SyntheticPEDES(str(root), split='test', modality='image', seed=2, **TINY)
    assert not root.exists()  # building wrote nothing
    command = str(err.value).split('write the set first with: ')[1].split(' (tools/')[0]
    argv = shlex.split(command)
    assert argv[:2] == ['python', 'tools/dataset_converters/make_synthetic.py']
    import runpy
    import sys

    monkeypatch.setattr(sys, 'argv', argv[1:])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(os.path.join(ROOT, argv[1]), run_name='__main__')
    assert done.value.code == 0
    assert len(SyntheticPEDES(str(root), split='test', modality='image', seed=2, **TINY)) == 1
    # A set with generator options is written from its config instead.
    with pytest.raises(FileNotFoundError, match='make_synthetic.py --config <your config>'):
        SyntheticPEDES(
            str(tmp_path / 'x'), split='test', generator_options=dict(partial_captions=True), **TINY
        )
