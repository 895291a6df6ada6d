# Copyright (c) tpr_mm contributors. All rights reserved.
"""On-disk layout of a gallery index: a checked ``index_meta.json`` and its faiss file.

The metadata also carries the fingerprint of the model that made the vectors;
:func:`check_fingerprint` refuses a query model that differs.

One save commits with a single rename. The vectors go to a new, uniquely
named ``index-<generation>.faiss``; then ``index_meta.json`` (paths,
fingerprint, settings and the name and size of that faiss file) replaces the
old one with :func:`os.replace`. A crash before that rename leaves the old
metadata naming the old, untouched faiss file; after it, the new pair. Only
files tpr_mm's own records name are deleted (:func:`begin_save`): the faiss
file the replaced metadata named, and uncommitted files an interrupted save
journaled in ``index_pending.json``; no other file of the folder is touched,
whatever its name. Saves and loads take turns through
:mod:`tpr_mm.apis.index_lock`, and a save of a loaded index is refused
(:class:`IndexChangedError`) if another process saved the folder since the
load, so concurrent appends never drop each other's images. Indexes written
before this layout (``version`` 1) name ``index.faiss`` implicitly.
"""

import json
import os
import os.path as osp
import uuid
from typing import List, Optional, Tuple

from .index_meta import (
    INDEX_NAME,
    LEGACY_INDEX_FILE,
    META_FILE,
    META_VERSION,
    CorruptIndexError,
    FingerprintMismatchError,
    check_fingerprint,
    read_meta,
)

PENDING_FILE = 'index_pending.json'

__all__ = [
    'META_FILE',
    'META_VERSION',
    'CorruptIndexError',
    'FingerprintMismatchError',
    'IndexChangedError',
    'check_fingerprint',
    'new_index_file',
    'commit_meta',
    'begin_save',
    'current_index_file',
    'finish_save',
    'read_meta',
]


class IndexChangedError(RuntimeError):
    """The index on disk was saved by someone else since it was loaded."""


def new_index_file() -> str:
    """A fresh faiss file name, never the one the current metadata names."""
    return f'index-{uuid.uuid4().hex[:16]}.faiss'


def _fsync_path(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. directories on Windows
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def commit_meta(index_dir: str, meta: dict) -> None:
    """Make the already written faiss file ``meta['index_file']`` the index (one rename)."""
    _fsync_path(osp.join(index_dir, meta['index_file']))
    _write_json(osp.join(index_dir, META_FILE), meta)  # the rename is the commit point


def _write_json(path: str, obj: dict) -> None:
    """Write ``obj`` to ``path`` through a synced temporary file and one rename."""
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_path(osp.dirname(path) or '.')


def _read_pending(index_dir: str) -> List[str]:
    """Faiss files an unfinished save journaled (its new and replaced files), [] if none."""
    try:
        with open(osp.join(index_dir, PENDING_FILE), encoding='utf-8') as f:
            names = json.load(f).get('files', [])
    except (OSError, ValueError, AttributeError):
        return []
    ok = [n for n in names if isinstance(n, str)]
    return [n for n in ok if n == LEGACY_INDEX_FILE or INDEX_NAME.fullmatch(n)]


def current_index_file(index_dir: str) -> Optional[str]:
    """The faiss file ``index_meta.json`` names; None when the folder holds no index.

    Raises:
        CorruptIndexError: ``index_meta.json`` exists but is not a readable
            tpr_mm index description: nothing may be saved over it.
    """
    meta_path = osp.join(index_dir, META_FILE)
    if not osp.exists(meta_path):
        return None
    try:
        return read_meta(meta_path)['index_file']
    except CorruptIndexError as err:
        raise CorruptIndexError(
            f'{err}. Refusing to save an index over it: nothing in {index_dir} was changed; '
            "move the folder's files away or choose another --index-dir"
        ) from None


def begin_save(index_dir: str, expected: Optional[str] = None) -> Tuple[Optional[str], str]:
    """Prepare a save: the file to replace later, and a journaled name for the new one.

    Only files tpr_mm's own records name are ever deleted: the faiss file of
    the current ``index_meta.json`` (after this save's commit), and the files
    an interrupted save journaled in ``index_pending.json`` (the one it was
    writing and the one it was replacing) unless the current metadata names
    it. Any other file is left alone, whatever its name.

    Args:
        index_dir (str): The index folder (locked by the caller).
        expected (str, optional): The faiss file the index was loaded with;
            the save is refused if another save has replaced it since.

    Raises:
        CorruptIndexError: ``index_meta.json`` exists but is not a readable
            tpr_mm index description (nothing is written or deleted).
        IndexChangedError: ``expected`` is no longer the current faiss file
            (nothing is written or deleted).
    """
    previous = current_index_file(index_dir)
    if expected is not None and previous is not None and previous != expected:
        raise IndexChangedError(
            f'{index_dir}: another process saved this gallery index after it was loaded here '
            f'({previous} replaced {expected}); saving would drop its changes, so nothing was '
            'written: load the index again and repeat the change'
        )
    for name in _read_pending(index_dir):
        if name != previous:
            _remove_if_present(osp.join(index_dir, name))
    new = new_index_file()
    files = [new] if previous is None else [new, previous]
    _write_json(osp.join(index_dir, PENDING_FILE), dict(files=files))
    return previous, new


def finish_save(index_dir: str, previous: Optional[str], keep: str) -> None:
    """After the commit: delete the replaced faiss file (never ``keep``), then the journal."""
    if previous is not None and previous != keep:
        _remove_if_present(osp.join(index_dir, previous))
    _remove_if_present(osp.join(index_dir, PENDING_FILE))


def _remove_if_present(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def index_file_size(index_dir: str, meta: dict) -> Optional[int]:
    """Size in bytes of the faiss file the metadata names, None when it is absent."""
    path = osp.join(index_dir, meta['index_file'])
    return osp.getsize(path) if osp.isfile(path) else None
