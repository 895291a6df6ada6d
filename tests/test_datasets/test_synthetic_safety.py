# Copyright (c) tpr_mm contributors. All rights reserved.
"""The synthetic set is never written over a folder it did not write (issue: data loss)."""

import json
import os
import shutil

import pytest

from tpr_mm.apis.prepare_data import prepare_data
from tpr_mm.datasets import SyntheticPEDES
from tpr_mm.datasets.synthetic import (
    generate_synthetic_pedes,
    read_synthetic_meta,
    synthetic_params_match,
)
from tpr_mm.datasets.synthetic.ownership import layout_files, replace_refusal

TINY = {
    'num_train_ids': 2,
    'num_val_ids': 0,
    'num_test_ids': 1,
    'images_per_id': 2,
    'captions_per_image': 1,
    'image_size': (32, 16),
}


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp('own') / 'set'
    generate_synthetic_pedes(str(root), **TINY)
    return root


def _snapshot(folder):
    """Every file under ``folder`` (relative path -> bytes)."""
    out = {}
    for cur, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(cur, name)
            out[os.path.relpath(path, folder)] = open(path, 'rb').read()
    return out


def _user_folder(tmp_path, generated):
    root = tmp_path / 'thesis'
    (root / 'chapters').mkdir(parents=True)
    (root / 'notes.txt').write_text('my notes')
    (root / 'chapters' / 'one.tex').write_text('\\chapter{One}')
    return root, r'it has no synthetic_meta\.json'


def _own_set_with_nested_user_file(tmp_path, generated):
    root = tmp_path / 'set'
    shutil.copytree(generated, root)
    (root / 'imgs' / 'train' / 'mine').mkdir()
    (root / 'imgs' / 'train' / 'mine' / 'photo.jpg').write_bytes(b'user photo')
    return root, r"does not list: 'imgs/train/mine/'"


def _own_set_with_user_file(tmp_path, generated):
    root = tmp_path / 'set'
    shutil.copytree(generated, root)
    (root / 'imgs' / 'test' / 'notes.txt').write_text('keep me')
    return root, r"does not list: 'imgs/test/notes\.txt'"


def _copied_meta(tmp_path, generated):
    root, _ = _user_folder(tmp_path, generated)
    shutil.copy(generated / 'synthetic_meta.json', root)
    return root, r"does not list: .*'notes\.txt'"


def _foreign_meta(tmp_path, generated):
    root, _ = _user_folder(tmp_path, generated)
    (root / 'synthetic_meta.json').write_text(json.dumps({'generator': 'someone else'}))
    return root, r'was not written by tpr_mm\.datasets\.synthetic'


def _broken_meta(tmp_path, generated):
    root, _ = _user_folder(tmp_path, generated)
    (root / 'synthetic_meta.json').write_text('{"generator": ')
    return root, r'synthetic_meta\.json cannot be read'


def _list_meta(tmp_path, generated):
    """A JSON list as the meta file (was an AttributeError in the parameter check)."""
    root, _ = _user_folder(tmp_path, generated)
    (root / 'synthetic_meta.json').write_text('[]')
    return root, r'synthetic_meta\.json was not written by'


def _symlink_inside(tmp_path, generated):
    root = tmp_path / 'set'
    shutil.copytree(generated, root)
    elsewhere = tmp_path / 'photos'
    elsewhere.mkdir()
    (elsewhere / 'a.jpg').write_bytes(b'photo')
    shutil.rmtree(root / 'imgs' / 'test')
    os.symlink(elsewhere, root / 'imgs' / 'test')
    return root, r"does not list: 'imgs/test/'"


def _a_file(tmp_path, generated):
    root = tmp_path / 'data.bin'
    root.write_bytes(b'precious')
    return root, 'it is a file, not a folder'


def _dangling_symlink(tmp_path, generated):
    root = tmp_path / 'link'
    os.symlink(tmp_path / 'gone', root)
    return root, 'symbolic link whose target is missing'


FOREIGN = [
    _user_folder,
    _own_set_with_nested_user_file,
    _own_set_with_user_file,
    _copied_meta,
    _foreign_meta,
    _broken_meta,
    _list_meta,
    _symlink_inside,
    _a_file,
    _dangling_symlink,
]


@pytest.mark.parametrize('make', FOREIGN)
@pytest.mark.parametrize('overwrite', [False, True])
def test_generator_refuses_folders_it_did_not_write(make, overwrite, tmp_path, generated):
    root, reason = make(tmp_path, generated)
    before = {p: _snapshot(tmp_path / p) for p in os.listdir(tmp_path)}
    params = {**TINY, 'seed': 5}  # never matches: would have to regenerate
    with pytest.raises(FileExistsError, match=reason) as err:
        generate_synthetic_pedes(str(root), overwrite=overwrite, **params)
    assert f"refusing to write the synthetic dataset into '{root}'" in str(err.value)
    # Everything in the parent folder is byte for byte as before, no temp dirs left.
    assert {p: _snapshot(tmp_path / p) for p in os.listdir(tmp_path)} == before


def _dataset_cfg(root, **params):
    return dict(
        type='SyntheticPEDES', data_root=str(root), split='test', modality='image', **params
    )


@pytest.mark.parametrize(
    'make', [_user_folder, _own_set_with_nested_user_file, _copied_meta, _list_meta]
)
def test_prepare_step_and_dataset_class_refuse_and_keep_the_files(make, tmp_path, generated):
    """The reported attack: ``data_root`` pointed at an existing user folder."""
    root, reason = make(tmp_path, generated)
    before = _snapshot(root)
    with pytest.raises(FileExistsError, match=reason):
        prepare_data(dict(test_dataloader=dict(dataset=_dataset_cfg(root, seed=5, **TINY))))
    # Building the dataset only reads: it says what is wrong and how to write the set.
    with pytest.raises(FileNotFoundError, match='make_synthetic.py --out') as err:
        SyntheticPEDES(str(root), split='test', modality='image', seed=5, **TINY)
    assert f"SyntheticPEDES: '{root}' does not hold the synthetic set" in str(err.value)
    assert _snapshot(root) == before


def test_prepare_step_reuses_and_regenerates_its_own_set(tmp_path, generated):
    root = tmp_path / 'set'
    shutil.copytree(generated, root)
    before = _snapshot(root)
    assert prepare_data(dict(a=_dataset_cfg(root, **TINY))) == [str(root)]
    ds = SyntheticPEDES(str(root), split='test', modality='image', **TINY)
    assert len(ds) == 2 and _snapshot(root) == before  # reused, nothing rewritten
    prepare_data(dict(a=_dataset_cfg(root, **{**TINY, 'seed': 7})))
    ds = SyntheticPEDES(str(root), split='train', modality='image', **{**TINY, 'seed': 7})
    assert len(ds) == 4 and synthetic_params_match(str(root), **{**TINY, 'seed': 7})
    empty = tmp_path / 'empty'
    empty.mkdir()
    prepare_data(dict(a=[_dataset_cfg(empty, **TINY)]))
    assert len(SyntheticPEDES(str(empty), split='test', modality='image', **TINY)) == 2


def test_meta_lists_every_file_and_older_sets_are_still_recognised(tmp_path, generated):
    meta = read_synthetic_meta(str(generated))
    on_disk = sorted(p for p in _snapshot(generated) if p != 'synthetic_meta.json')
    assert sorted(meta['files']) == on_disk
    assert layout_files(meta['params']) == meta['files']
    # A set written before the meta listed its files: its params give the same list.
    root = tmp_path / 'old'
    shutil.copytree(generated, root)
    del meta['files']
    (root / 'synthetic_meta.json').write_text(json.dumps(meta))
    assert replace_refusal(root) is None
    generate_synthetic_pedes(str(root), **{**TINY, 'seed': 2})
    assert synthetic_params_match(str(root), **{**TINY, 'seed': 2})


_RANK_SCRIPT = """
import sys, torch.distributed as dist
dist.init_process_group('gloo', init_method='tcp://127.0.0.1:' + sys.argv[1],
                        rank=int(sys.argv[2]), world_size=2)
from tpr_mm.apis.prepare_data import prepare_data
from tpr_mm.apis import prepare_data
dataset = dict(type='SyntheticPEDES', data_root=sys.argv[3], split='test', num_train_ids=1,
               num_val_ids=0, num_test_ids=1, images_per_id=1, image_size=(32, 16))
try:
    prepare_data(dict(train_dataloader=dict(dataset=dataset)))
except Exception as err:
    print(f'rank {sys.argv[2]}: {type(err).__name__}: {err}')
    sys.exit(3)
"""


def test_refusal_on_rank_0_reaches_every_rank_without_a_hang(tmp_path):
    """Rank 0 writes the set (prepare step); its refusal must not leave rank 1 waiting."""
    import socket
    import subprocess
    import sys

    root = tmp_path / 'thesis'
    root.mkdir()
    (root / 'notes.txt').write_text('mine')
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = str(s.getsockname()[1])
    env = dict(os.environ, OMP_NUM_THREADS='1')
    procs = [
        subprocess.Popen(
            [sys.executable, '-c', _RANK_SCRIPT, port, str(rank), str(root)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        for rank in (0, 1)
    ]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [3, 3], outs
    assert 'rank 0: FileExistsError: refusing to write the synthetic dataset into' in outs[0]
    assert 'rank 1: RuntimeError: SyntheticPEDES: rank 0 could not prepare' in outs[1]
    assert 'FileExistsError: refusing to write' in outs[1] and 'no synthetic_meta.json' in outs[1]
    assert (root / 'notes.txt').read_text() == 'mine'


def test_files_added_while_the_set_is_rendered_are_kept(tmp_path, monkeypatch):
    """The check is repeated just before the swap: a file put in meanwhile stops it."""
    from tpr_mm.datasets.synthetic import generator

    root = tmp_path / 'set'
    real = generator._write_dataset

    def slow_write(out, params):
        stats = real(out, params)
        root.mkdir()  # the missing folder is created and used meanwhile
        (root / 'late.txt').write_text('arrived during rendering')
        return stats

    monkeypatch.setattr(generator, '_write_dataset', slow_write)
    with pytest.raises(FileExistsError, match='has no synthetic_meta'):
        generate_synthetic_pedes(str(root), **TINY)
    assert (root / 'late.txt').read_text() == 'arrived during rendering'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['set']  # temp folder removed
