# Copyright (c) tpr_mm contributors. All rights reserved.
"""Gallery-index folders shared by several processes: saves take turns, a stale copy never
overwrites a newer save, and a killed lock holder leaves no stale lock."""

import errno
import glob
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tpr_mm.apis.index_lock as index_lock_module
from tpr_mm.apis import GalleryIndex, IndexBusyError, IndexChangedError
from tpr_mm.apis.index_files import META_FILE
from tpr_mm.apis.index_lock import LOCK_FILE, index_lock

DIM = 6
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _vectors(seed, n=5):
    return np.random.default_rng(seed).standard_normal((n, DIM))


def _paths(tag, n=5):
    return [f'{tag}/{i}.png' for i in range(n)]


def test_stale_append_is_refused_and_loses_nothing(tmp_path):
    """Two appenders load the same index; the second save would drop the first's images."""
    folder = str(tmp_path / 'index')
    GalleryIndex(DIM).build(_vectors(0), _paths('base')).save(folder)
    a, b = GalleryIndex.load(folder), GalleryIndex.load(folder)
    a.add(_vectors(1), _paths('a')).save(folder)
    before = sorted(os.listdir(folder))
    with pytest.raises(IndexChangedError, match='another process saved this gallery index'):
        b.add(_vectors(2), _paths('b')).save(folder)
    assert sorted(os.listdir(folder)) == before  # nothing written or deleted
    assert GalleryIndex.load(folder).paths == _paths('base') + _paths('a')

    again = GalleryIndex.load(folder)  # the advised remedy: load again, repeat the change
    again.add(_vectors(2), _paths('b')).save(folder)
    again.add(_vectors(3), _paths('c')).save(folder)  # its own saves do not block it
    assert GalleryIndex.load(folder).paths == _paths('base') + _paths('a') + _paths('b') + _paths(
        'c'
    )
    # A new index (or one from another folder) replaces what is there: that is the intent.
    GalleryIndex(DIM).build(_vectors(4), _paths('new')).save(folder)
    assert GalleryIndex.load(folder).paths == _paths('new')


def _hold_lock_in_child(folder):
    script = textwrap.dedent(
        f"""
        import fcntl, os, time
        fd = os.open({os.path.join(folder, LOCK_FILE)!r}, os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        print('held', flush=True)
        time.sleep(60)
        """
    )
    child = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == 'held'
    return child


def test_a_held_folder_times_out_with_a_clear_error_and_a_killed_holder_frees_it(
    tmp_path, monkeypatch
):
    folder = str(tmp_path / 'index')
    GalleryIndex(DIM).build(_vectors(0), _paths('base')).save(folder)
    monkeypatch.setattr(index_lock_module, 'DEFAULT_TIMEOUT_S', 0.3)
    child = _hold_lock_in_child(folder)
    try:
        before = sorted(os.listdir(folder))
        with pytest.raises(IndexBusyError, match=r'could not save into .* held .*index\.lock'):
            GalleryIndex(DIM).build(_vectors(1), _paths('new')).save(folder)
        with pytest.raises(IndexBusyError, match='could not read'):
            GalleryIndex.load(folder)
        assert sorted(os.listdir(folder)) == before
    finally:
        child.kill()  # SIGKILL: the kernel drops its lock
        child.wait()
    GalleryIndex(DIM).build(_vectors(1), _paths('new')).save(folder)
    assert GalleryIndex.load(folder).paths == _paths('new')


def test_readers_share_the_lock_and_the_lock_file_is_never_written(tmp_path):
    folder = str(tmp_path / 'index')
    os.makedirs(folder)
    with open(os.path.join(folder, LOCK_FILE), 'w') as f:
        f.write('a file of the user that happens to have this name\n')
    GalleryIndex(DIM).build(_vectors(0), _paths('base')).save(folder)
    with index_lock(folder, exclusive=False, timeout=0.3):
        assert GalleryIndex.load(folder).paths == _paths('base')  # a second reader gets in
        with pytest.raises(IndexBusyError):
            with index_lock(folder, exclusive=True, timeout=0.3):
                pass  # pragma: no cover
    with open(os.path.join(folder, LOCK_FILE)) as f:
        assert f.read() == 'a file of the user that happens to have this name\n'


def test_read_only_folder_loads_unlocked(tmp_path, monkeypatch):
    folder = str(tmp_path / 'index')
    GalleryIndex(DIM).build(_vectors(0), _paths('base')).save(folder)
    os.remove(os.path.join(folder, LOCK_FILE))
    real_open = os.open

    def read_only(path, flags, *args):
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, 'Read-only file system', path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(index_lock_module.os, 'open', read_only)
    assert GalleryIndex.load(folder).paths == _paths('base')
    with pytest.raises(OSError, match='Read-only'):
        GalleryIndex(DIM).build(_vectors(1), _paths('new')).save(folder)


_WRITER = """
import sys
import numpy as np
from tpr_mm.apis import GalleryIndex
folder, tag = sys.argv[1], sys.argv[2]
vectors = np.random.default_rng(0).standard_normal(({n}, {dim}))
for i in range({saves}):
    paths = [f'{{tag}}/{{i}}/{{j}}.png' for j in range({n})]
    GalleryIndex({dim}).build(vectors, paths).save(folder)
"""


@pytest.mark.slow  # two processes saving 12 indexes of 8 MB each into one folder
def test_two_processes_saving_into_one_folder_leave_one_complete_index(tmp_path):
    """Unlocked (checked by making the lock a no-op), the saves clobber each other's
    temporary metadata and journaled files: a writer dies of FileNotFoundError."""
    folder = str(tmp_path / 'index')
    n, dim = 30_000, 64
    script = _WRITER.format(n=n, dim=dim, saves=12)
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    writers = [
        subprocess.Popen(
            [sys.executable, '-c', script, folder, tag], env=env, stderr=subprocess.PIPE, text=True
        )
        for tag in ('a', 'b')
    ]
    errors = [w.communicate(timeout=240)[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    index = GalleryIndex.load(folder)  # the last save, whole: its faiss file was not deleted
    assert index.ntotal == n and index.paths[0].split('/')[1] == '11'
    faiss_files = glob.glob(os.path.join(folder, '*.faiss'))
    assert len(faiss_files) == 1  # no orphan, no file a save still needed was removed
    assert sorted(os.listdir(folder)) == sorted(
        [META_FILE, LOCK_FILE, os.path.basename(faiss_files[0])]
    )
