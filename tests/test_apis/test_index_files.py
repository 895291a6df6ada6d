# Copyright (c) tpr_mm contributors. All rights reserved.
"""GalleryIndex files: a crash at any point of a save never pairs new vectors with old
paths, and a damaged index_meta.json is an error naming the file and field."""

import json
import os
import shutil

import faiss
import numpy as np
import pytest

from tpr_mm.apis import CorruptIndexError, GalleryIndex
from tpr_mm.apis.index_files import META_FILE
from tpr_mm.apis.index_lock import LOCK_FILE

N, DIM = 12, 6


class _Crash(BaseException):
    """The process 'dies' here: nothing after it runs (not even except Exception)."""


def _index(seed, tag):
    vectors = np.random.default_rng(seed).standard_normal((N, DIM))
    return GalleryIndex(DIM, fingerprint=dict(model=tag)).build(
        vectors, [f'{tag}/{i}.png' for i in range(N)]
    )


QUERIES = np.random.default_rng(9).standard_normal((4, DIM))


def _same(loaded, expected):
    return loaded.paths == expected.paths and loaded.search_paths(
        QUERIES, 5
    ) == expected.search_paths(QUERIES, 5)


class _CrashAt:
    """Let ``n`` file-system steps of a save run, then crash at the next one.

    A crashed ``write_index`` / ``json.dump`` leaves half a file, like a real
    crash during the write.
    """

    def __init__(self, monkeypatch, n):
        self.n, self.calls = n, 0
        real = dict(
            write_index=faiss.write_index,
            dump=json.dump,
            replace=os.replace,
            remove=os.remove,
            fsync=os.fsync,
        )

        def step(name):
            def wrapped(*args, **kwargs):
                if self.calls == self.n:
                    if name == 'write_index':
                        real['write_index'](*args)
                        os.truncate(args[1], os.path.getsize(args[1]) // 2)
                    elif name == 'dump':
                        args[1].write(json.dumps(args[0])[:40])
                    raise _Crash(name)
                self.calls += 1
                return real[name](*args, **kwargs)

            return wrapped

        monkeypatch.setattr(faiss, 'write_index', step('write_index'))
        monkeypatch.setattr(json, 'dump', step('dump'))
        for name in ('replace', 'remove', 'fsync'):
            monkeypatch.setattr(os, name, step(name))


def test_a_crash_at_any_step_of_save_leaves_a_consistent_index(tmp_path, monkeypatch):
    old, new = _index(0, 'old'), _index(1, 'new')
    outcomes = []
    for n in range(50):
        folder = str(tmp_path / f'crash{n}')
        old.save(folder)
        with monkeypatch.context() as patch:
            _CrashAt(patch, n)
            try:
                new.save(folder)
                crashed = None
            except _Crash as exc:
                crashed = str(exc)
        loaded = GalleryIndex.load(folder)
        if _same(loaded, old):
            outcomes.append((crashed, 'old'))
        else:
            assert _same(loaded, new), f'crash at step {n} ({crashed}): mismatched index'
            outcomes.append((crashed, 'new'))
        if crashed is None:
            break
        # the next save cleans up what the crash left
        new.save(folder)
        names = sorted(os.listdir(folder))  # one faiss file, the metadata, the lock file
        assert names[-2:] == [LOCK_FILE, META_FILE] and len(names) == 3
    # both sides of the commit were hit, and the save finished eventually
    assert ('write_index', 'old') in outcomes and outcomes[-1] == (None, 'new')
    assert ('replace', 'old') in outcomes and any(c == 'remove' for c, _ in outcomes)


def test_crash_before_the_commit_keeps_the_old_index_searchable(tmp_path, monkeypatch):
    old, new = _index(0, 'old'), _index(1, 'new')
    old.save(str(tmp_path))
    with monkeypatch.context() as patch:
        patch.setattr(os, 'replace', lambda *a: (_ for _ in ()).throw(_Crash('replace')))
        with pytest.raises(_Crash):
            new.save(str(tmp_path))
    assert _same(GalleryIndex.load(str(tmp_path)), old)


def _damage(folder, edit):
    path = os.path.join(folder, META_FILE)
    with open(path) as f:
        meta = json.load(f)
    edit(meta)
    with open(path, 'w') as f:
        json.dump(meta, f)


@pytest.mark.parametrize(
    'edit, message',
    [
        (lambda m: m.pop('nprobe'), "field 'nprobe' is missing"),
        (lambda m: m.update(nprobe='many'), "field 'nprobe' must be a positive integer"),
        (lambda m: m.update(nprobe=0), "field 'nprobe' must be a positive integer"),
        (lambda m: m.update(normalize='yes'), "field 'normalize' must be true or false"),
        (lambda m: m.update(dim=True), "field 'dim' must be a positive integer"),
        (lambda m: m.update(paths='a.png'), "field 'paths' must be a list of strings"),
        (lambda m: m['paths'].__setitem__(3, 7), "field 'paths' entry 3 must be a string"),
        (lambda m: m.update(fingerprint=[1]), "field 'fingerprint' must be an object or null"),
        (lambda m: m.update(version=99), "field 'version' is 99"),
        (lambda m: m.update(index_file='../../x.faiss'), "field 'index_file' must be"),
        (lambda m: m.pop('index_file'), "field 'index_file' is missing"),
    ],
)
def test_broken_meta_fields_are_named(tmp_path, edit, message):
    _index(0, 'a').save(str(tmp_path))
    _damage(str(tmp_path), edit)
    with pytest.raises(CorruptIndexError, match=f'{META_FILE}: {message}'.replace('(', r'\(')):
        GalleryIndex.load(str(tmp_path))


@pytest.mark.parametrize(
    'content, message',
    [
        (b'{"version": 2, "dim": ', 'not valid JSON'),
        (b'\xff\xfe{}', 'not UTF-8'),
        (b'[1, 2]', 'expected a JSON object, got list'),
    ],
)
def test_unparsable_meta_is_named(tmp_path, content, message):
    _index(0, 'a').save(str(tmp_path))
    (tmp_path / META_FILE).write_bytes(content)
    with pytest.raises(CorruptIndexError, match=f'{META_FILE}: {message}'):
        GalleryIndex.load(str(tmp_path))


def test_damaged_or_swapped_faiss_file_is_named(tmp_path):
    _index(0, 'a').save(str(tmp_path))
    meta = json.loads((tmp_path / META_FILE).read_text())
    faiss_path = tmp_path / meta['index_file']
    data = faiss_path.read_bytes()
    faiss_path.write_bytes(data[:-10])
    with pytest.raises(CorruptIndexError, match='do not belong together'):
        GalleryIndex.load(str(tmp_path))
    faiss_path.write_bytes(b'\0' * len(data))  # right size, not a faiss file
    with pytest.raises(CorruptIndexError, match=f'{meta["index_file"]}: faiss cannot read it'):
        GalleryIndex.load(str(tmp_path))
    faiss_path.unlink()
    with pytest.raises(FileNotFoundError, match=f'{meta["index_file"]}.*named by {META_FILE}'):
        GalleryIndex.load(str(tmp_path))


def test_version_1_folders_still_load_and_are_upgraded(tmp_path):
    index = _index(0, 'a')
    index.save(str(tmp_path))
    meta = json.loads((tmp_path / META_FILE).read_text())
    shutil.move(str(tmp_path / meta.pop('index_file')), str(tmp_path / 'index.faiss'))
    del meta['index_bytes']
    meta['version'] = 1
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    loaded = GalleryIndex.load(str(tmp_path))
    assert _same(loaded, index)
    loaded.save(str(tmp_path))
    names = sorted(os.listdir(tmp_path))
    assert 'index.faiss' not in names and len(names) == 3  # + index.lock
    assert _same(GalleryIndex.load(str(tmp_path)), index)


def test_save_deletes_only_the_faiss_file_its_metadata_named(tmp_path):
    """Files a save cannot prove it wrote survive it, whatever their names."""
    theirs = {'index.faiss': b'user data', 'index-0123456789abcdef.faiss': b'more user data'}
    for name, data in theirs.items():
        (tmp_path / name).write_bytes(data)
    first = _index(0, 'a')
    first.save(str(tmp_path))  # a fresh folder: no metadata, so nothing is ours to replace
    ours = json.loads((tmp_path / META_FILE).read_text())['index_file']
    second = _index(1, 'b')
    second.save(str(tmp_path))  # replaces the file the first save's metadata named
    new = json.loads((tmp_path / META_FILE).read_text())['index_file']
    assert sorted(os.listdir(tmp_path)) == sorted([*theirs, META_FILE, LOCK_FILE, new])
    assert not (tmp_path / ours).exists()
    for name, data in theirs.items():
        assert (tmp_path / name).read_bytes() == data
    assert _same(GalleryIndex.load(str(tmp_path)), second)


@pytest.mark.parametrize('content', ['{"not": "an index"}', 'plain text notes', '[1, 2]'])
def test_save_refuses_a_folder_whose_metadata_is_not_an_index(tmp_path, content):
    (tmp_path / META_FILE).write_text(content)
    (tmp_path / 'index.faiss').write_bytes(b'user data')
    with pytest.raises(CorruptIndexError, match='Refusing to save an index over it: nothing in'):
        _index(0, 'a').save(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == sorted([META_FILE, 'index.faiss'])  # not even a lock
    assert (tmp_path / META_FILE).read_text() == content
