# Copyright (c) tpr_mm contributors. All rights reserved.
"""``index_meta.json`` of a gallery index: its fields, checked on every read, and the
encoder fingerprint it carries.

Every problem is a :class:`CorruptIndexError` naming the file and the field, so
a damaged or hand-edited file is never half-used.
"""

import json
import re
from typing import Dict, List, Optional

META_FILE = 'index_meta.json'
LEGACY_INDEX_FILE = 'index.faiss'
META_VERSION = 2
INDEX_NAME = re.compile(r'index-[0-9a-f]{16}\.faiss')


class CorruptIndexError(ValueError):
    """The index folder's files are unreadable or do not belong together."""


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
    elif not INDEX_NAME.fullmatch(meta['index_file']):
        # also keeps a hostile file from pointing outside the folder
        raise _bad(
            meta_path,
            'index_file',
            f'must be {_FIELDS["index_file"][1]}, got {meta["index_file"]!r:.80}',
        )
    return meta


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
