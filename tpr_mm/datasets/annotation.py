# Copyright (c) tpr_mm contributors. All rights reserved.
"""Reading and validating text-based person re-id annotation files.

The three benchmarks (CUHK-PEDES, ICFG-PEDES, RSTPReid) share one layout: a
JSON list with one record per image holding ``id`` (int), ``captions`` (list of
str), ``split`` (str) and an image path under a dataset-specific key
(``file_path`` or ``img_path``). Other keys (e.g. ``processed_tokens``) are
ignored. Every problem is reported with the file, the record index and the
field, never silently absorbed. Image paths must stay inside the image folder:
absolute paths and ``..`` components are refused.
"""

import json
import logging
import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from mmengine.fileio import get, isfile
from mmengine.logging import print_log

__all__ = [
    'AnnotationRecord',
    'SPLITS',
    'UNKNOWN_SPLIT_POLICIES',
    'read_annotation_json',
    'unsafe_path_reason',
    'parse_records',
    'load_annotations',
    'group_by_split',
]

SPLITS = ('train', 'val', 'test')
UNKNOWN_SPLIT_POLICIES = ('val', 'error', 'ignore')
INT64_MAX = 2**63 - 1  # identities become np.int64 arrays
_WINDOWS_DRIVE = re.compile(r'^[A-Za-z]:')


class AnnotationRecord(NamedTuple):
    """One validated image record.

    Attributes:
        index (int): Position of the record in the JSON list (for messages).
        raw_id (int): The annotation's ``id`` (non-negative).
        path (str): Image path relative to the image folder.
        captions (tuple[str]): All captions of the image, in file order.
        split (str): The ``split`` value exactly as stored.
    """

    index: int
    raw_id: int
    path: str
    captions: Tuple[str, ...]
    split: str


def read_annotation_json(ann_file: str, missing_hint: str = '') -> list:
    """Read an annotation file and check that its top level is a list.

    Args:
        ann_file (str): Path (or backend URI) of the JSON file.
        missing_hint (str): Extra advice appended when the file is missing.

    Returns:
        list: The decoded top-level list (records not yet validated).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Bytes that are not UTF-8 (with byte offset and line),
            malformed JSON (with line and column), a number JSON cannot
            decode, or a top level that is not a list.
    """
    if not isfile(ann_file):
        msg = f"annotation file '{ann_file}' not found"
        raise FileNotFoundError(f'{msg}. {missing_hint}' if missing_hint else msg)
    raw = get(ann_file)
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as err:
        line = raw.count(b'\n', 0, err.start) + 1
        raise ValueError(
            f'{ann_file}: not UTF-8 text: byte {err.start} (line {line}) is '
            f'{raw[err.start : err.start + 1]!r} ({err.reason}); save the annotation as UTF-8'
        ) from err
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(
            f'{ann_file}: malformed JSON at line {err.lineno}, column {err.colno}: {err.msg}'
        ) from err
    except ValueError as err:  # e.g. an integer of more than 4300 digits
        raise ValueError(f'{ann_file}: cannot decode the JSON: {err}') from err
    if not isinstance(data, list):
        raise ValueError(
            f'{ann_file}: the top level must be a JSON list of image records, '
            f'got {type(data).__name__}'
        )
    return data


def _type_name(value) -> str:
    return 'null' if value is None else type(value).__name__


def unsafe_path_reason(path: str) -> Optional[str]:
    """Why an image path could read outside the image folder, or ``None``.

    Absolute paths (POSIX, Windows drive or UNC) replace the image folder when
    joined to it, and a ``..`` component climbs out of it (also through a
    symbolic link, so ``a/../b`` is refused too although it looks harmless).

    Args:
        path (str): The path as stored in the annotation.

    Returns:
        str | None: A short reason, or ``None`` for a safe relative path.
    """
    if path.startswith(('/', '\\')) or _WINDOWS_DRIVE.match(path):
        return 'is an absolute path'
    if '..' in re.split(r'[\\/]', path):
        return "has a '..' component"
    return None


def parse_records(data: Sequence, ann_file: str, path_key: str) -> List[AnnotationRecord]:
    """Validate decoded records and convert them to :class:`AnnotationRecord`.

    Args:
        data (Sequence): The decoded top-level JSON list.
        ann_file (str): File name used in error messages.
        path_key (str): Key of the image path (``'file_path'`` or ``'img_path'``).

    Returns:
        list[AnnotationRecord]: One record per image, in file order.

    Raises:
        ValueError: A record that is not an object, a missing field, a field
            of the wrong type (``bool`` is not accepted as ``id``), a negative
            id or one beyond int64, an empty path, an absolute path or one
            with a ``..`` component, an empty caption list, or an empty /
            whitespace-only caption. The message names file, record and field.
    """
    records = []
    for idx, rec in enumerate(data):
        where = f'{ann_file}: record {idx}'
        if not isinstance(rec, dict):
            raise ValueError(f'{where}: must be a JSON object, got {_type_name(rec)}')
        for key in ('id', path_key, 'captions', 'split'):
            if key not in rec:
                raise ValueError(
                    f"{where}: missing required field '{key}' (fields present: {sorted(rec)})"
                )
        raw_id, path, captions, split = rec['id'], rec[path_key], rec['captions'], rec['split']
        # bool is a subclass of int in Python but never a valid identity.
        if isinstance(raw_id, bool) or not isinstance(raw_id, int):
            raise ValueError(f"{where}: field 'id' must be an int, got {_type_name(raw_id)}")
        if raw_id < 0:
            # -1 is the "no label" marker of identity='drop'; keep it unambiguous.
            raise ValueError(f"{where}: field 'id' must be non-negative, got {raw_id}")
        if raw_id > INT64_MAX:
            raise ValueError(
                f"{where}: field 'id' is {raw_id}, larger than the int64 maximum {INT64_MAX}"
            )
        if not isinstance(path, str):
            raise ValueError(f"{where}: field '{path_key}' must be a str, got {_type_name(path)}")
        if not path.strip():
            raise ValueError(f"{where}: field '{path_key}' is empty")
        unsafe = unsafe_path_reason(path)
        if unsafe:
            raise ValueError(
                f"{where}: field '{path_key}' {unsafe} ({path!r}); image paths must be relative "
                'to the image folder and stay inside it'
            )
        if not isinstance(split, str):
            raise ValueError(f"{where}: field 'split' must be a str, got {_type_name(split)}")
        if not isinstance(captions, list):
            raise ValueError(
                f"{where}: field 'captions' must be a list of str, got {_type_name(captions)}"
            )
        if not captions:
            raise ValueError(f"{where}: field 'captions' is an empty list")
        for cap_idx, cap in enumerate(captions):
            if not isinstance(cap, str):
                raise ValueError(
                    f"{where}: field 'captions'[{cap_idx}] must be a str, got {_type_name(cap)}"
                )
            if not cap.strip():
                raise ValueError(
                    f"{where}: field 'captions'[{cap_idx}] is empty or whitespace-only"
                )
        records.append(AnnotationRecord(idx, raw_id, path, tuple(captions), split))
    return records


def load_annotations(
    ann_file: str, path_key: str, missing_hint: str = ''
) -> List[AnnotationRecord]:
    """Read and validate a whole annotation file.

    Args:
        ann_file (str): Path of the JSON file.
        path_key (str): Key of the image path in each record.
        missing_hint (str): Advice appended when the file is missing.

    Returns:
        list[AnnotationRecord]: Validated records, in file order.
    """
    return parse_records(read_annotation_json(ann_file, missing_hint), ann_file, path_key)


def group_by_split(
    records: Sequence[AnnotationRecord], ann_file: str, unknown_split: str = 'val'
) -> Dict[str, List[AnnotationRecord]]:
    """Assign records to ``train`` / ``val`` / ``test``, keeping file order.

    ``'train'`` and ``'test'`` go to their split and ``'val'`` to val. A split
    value that is none of the three exactly (case-sensitive) is handled by
    ``unknown_split``:

    * ``'val'``: sent to val, as IRRA does (its loaders put everything that is
      not train/test into val); a warning gives the count and up to 3 values.
    * ``'error'``: raise, naming the first offending record and its value.
    * ``'ignore'``: drop the record; the count is logged.

    Args:
        records (Sequence[AnnotationRecord]): Validated records.
        ann_file (str): File name used in messages.
        unknown_split (str): Policy, one of :data:`UNKNOWN_SPLIT_POLICIES`.

    Returns:
        dict[str, list[AnnotationRecord]]: Records per split.
    """
    if unknown_split not in UNKNOWN_SPLIT_POLICIES:
        raise ValueError(
            f'unknown_split must be one of {UNKNOWN_SPLIT_POLICIES}, got {unknown_split!r}'
        )
    groups: Dict[str, List[AnnotationRecord]] = {s: [] for s in SPLITS}
    odd_values: Dict[str, int] = {}
    for rec in records:
        target = groups.get(rec.split)
        if target is not None:
            target.append(rec)
            continue
        if unknown_split == 'error':
            raise ValueError(
                f"{ann_file}: record {rec.index}: field 'split' is {rec.split!r}, expected one "
                f"of {SPLITS} (unknown_split='error')"
            )
        odd_values[rec.split] = odd_values.get(rec.split, 0) + 1
        if unknown_split == 'val':
            groups['val'].append(rec)
    if odd_values:
        count = sum(odd_values.values())
        shown = ', '.join(repr(v) for v in list(odd_values)[:3])
        more = f' and {len(odd_values) - 3} more' if len(odd_values) > 3 else ''
        action = 'assigned to val (IRRA behaviour)' if unknown_split == 'val' else 'dropped'
        print_log(
            f'{ann_file}: {count} record(s) have a split other than {SPLITS} '
            f'(values: {shown}{more}); {action} by unknown_split={unknown_split!r}',
            logger='current',
            level=logging.WARNING,
        )
    return groups
