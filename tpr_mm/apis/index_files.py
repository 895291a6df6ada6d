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
whatever its name. Concurrent saves into one folder are not supported. Indexes written
before this layout (``version`` 1) name ``index.faiss`` implicitly.
"""

import json
import os
import os.path as osp
import re
import uuid
from typing import Dict, List, Optional, Tuple

META_FILE = 'index_meta.json'
PENDING_FILE = 'index_pending.json'
LEGACY_INDEX_FILE = 'index.faiss'
META_VERSION = 2
_INDEX_NAME = re.compile(r'index-[0-9a-f]{16}\.faiss')

__all__ = [
    'META_FILE',
    'META_VERSION',
    'CorruptIndexError',
    'FingerprintMismatchError',
    'check_fingerprint',
    'new_index_file',
    'commit_meta',
    'begin_save',
    'finish_save',
    'read_meta',
]


class CorruptIndexError(ValueError):
    """The index folder's files are unreadable or do not belong together."""


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
    return [n for n in ok if n == LEGACY_INDEX_FILE or _INDEX_NAME.fullmatch(n)]


def begin_save(index_dir: str) -> Tuple[Optional[str], str]:
    """Prepare a save: the file to replace later, and a journaled name for the new one.

    Only files tpr_mm's own records name are ever deleted: the faiss file of
    the current ``index_meta.json`` (after this save's commit), and the files
    an interrupted save journaled in ``index_pending.json`` (the one it was
    writing and the one it was replacing) unless the current metadata names
    it. Any other file is left alone, whatever its name.

    Raises:
        CorruptIndexError: ``index_meta.json`` exists but is not a readable
            tpr_mm index description (nothing is written or deleted).
    """
    previous = None
    meta_path = osp.join(index_dir, META_FILE)
    if osp.exists(meta_path):
        try:
            previous = read_meta(meta_path)['index_file']
        except CorruptIndexError as err:
            raise CorruptIndexError(
                f'{err}. Refusing to save an index over it: nothing in {index_dir} was changed; '
                "move the folder's files away or choose another --index-dir"
            ) from None
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


# field -> (accepted types, description, required in every version)
_FIELDS: Dict[str, tuple] = dict(
    version=((int,), 'an integer', True),
    dim=((int,), 'a positive integer', True),
    index_type=((str,), 'a string', True),
    factory=((str,), 'a faiss factory string', True),
    nprobe=((int,), 'a positive integer', True),
    k_factor=((int,), 'a positive integer', True),
    normalize=((bool,), 'true or false', True),
    paths=((list,), 'a list of strings', True),
    fingerprint=((dict, type(None)), 'an object or null', False),
    train_size=((int,), 'a positive integer', False),
    ntotal=((int,), 'a non-negative integer', False),
    index_file=((str,), 'a file name index-<16 hex digits>.faiss', False),
    index_bytes=((int,), 'a non-negative integer', False),
)
_POSITIVE = ('dim', 'nprobe', 'k_factor', 'train_size')


def _bad(meta_path: str, field: str, what: str) -> CorruptIndexError:
    return CorruptIndexError(
        f'{meta_path}: field {field!r} {what}; the file is damaged or was edited by hand — '
        'rebuild the index (tools/search.py index ...)'
    )


def read_meta(meta_path: str) -> dict:
    """Read and check ``index_meta.json``; every problem names the file and field.

    Returns:
        dict: The metadata, with ``index_file`` filled in for version 1.

    Raises:
        CorruptIndexError: Not UTF-8 JSON, not an object, an unsupported
            version, a missing field or one of the wrong type or range.
    """
    try:
        with open(meta_path, encoding='utf-8') as f:
            meta = json.load(f)
    except UnicodeDecodeError as exc:
        raise CorruptIndexError(
            f'{meta_path}: not UTF-8 text (byte {exc.start}); rebuild the index'
        ) from None
    except json.JSONDecodeError as exc:
        raise CorruptIndexError(
            f'{meta_path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); '
            'rebuild the index'
        ) from None
    if not isinstance(meta, dict):
        raise CorruptIndexError(
            f'{meta_path}: expected a JSON object, got {type(meta).__name__}; rebuild the index'
        )
    version = meta.get('version')
    if version not in (1, META_VERSION) or isinstance(version, bool):
        raise _bad(meta_path, 'version', f'is {version!r}, this tpr_mm reads 1 and {META_VERSION}')
    for field, (types, desc, required) in _FIELDS.items():
        if field not in meta:
            if required or (field == 'index_file' and version >= 2):
                raise _bad(meta_path, field, 'is missing')
            continue
        value = meta[field]
        wrong_type = not isinstance(value, types) or (bool not in types and isinstance(value, bool))
        out_of_range = (
            not wrong_type
            and isinstance(value, int)
            and not isinstance(value, bool)
            and value < (1 if field in _POSITIVE else 0)
        )
        if wrong_type or out_of_range:
            raise _bad(meta_path, field, f'must be {desc}, got {value!r:.80}')
    paths: List = meta['paths']
    bad = next((i for i, p in enumerate(paths) if not isinstance(p, str)), None)
    if bad is not None:
        raise _bad(meta_path, 'paths', f'entry {bad} must be a string, got {paths[bad]!r:.80}')
    if version == 1:
        meta['index_file'] = LEGACY_INDEX_FILE
    elif not _INDEX_NAME.fullmatch(meta['index_file']):
        # also keeps a hostile file from pointing outside the folder
        raise _bad(
            meta_path,
            'index_file',
            f'must be {_FIELDS["index_file"][1]}, got {meta["index_file"]!r:.80}',
        )
    return meta


def index_file_size(index_dir: str, meta: dict) -> Optional[int]:
    """Size in bytes of the faiss file the metadata names, None when it is absent."""
    path = osp.join(index_dir, meta['index_file'])
    return osp.getsize(path) if osp.isfile(path) else None


class FingerprintMismatchError(ValueError):
    """The index was built by another model than the one querying it."""


def check_fingerprint(saved: Optional[dict], current: dict, where: str) -> None:
    """Raise :class:`FingerprintMismatchError` naming each differing field."""
    saved = saved or {}
    diffs = [
        f'{key}: index has {saved.get(key)!r}, model has {current.get(key)!r}'
        for key in sorted(set(saved) | set(current))
        if saved.get(key) != current.get(key)
    ]
    if diffs:
        raise FingerprintMismatchError(
            f'the gallery index in {where} was built by a different model; rebuild it with '
            'this config and checkpoint (tools/search.py index ...). Differences: '
            + '; '.join(diffs)
        )
