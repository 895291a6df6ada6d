# Copyright (c) tpr_mm contributors. All rights reserved.
"""Finding records that repeat an image of an earlier record.

All three benchmark formats hold one record per image, with every caption of
the image in its ``captions`` list (CUHK-PEDES: usually 2, ICFG-PEDES: 1,
RSTPReid: 2). So a second record for the same image path is the duplicate,
whatever its captions say: it puts the image into the gallery twice and, with
another split, leaks it between train and test. A record identical to an
earlier one in every field (id, path, captions, split) is the common case of a
file concatenated twice; records that repeat the path with another id,
captions or split are conflicts. Paths are compared after removing ``.``
components and repeated slashes (``train/./a.png`` is ``train/a.png``).
"""

import logging
import posixpath
from typing import Dict, List, NamedTuple, Sequence

from mmengine.logging import print_log

from .annotation import AnnotationRecord

__all__ = ['Duplicate', 'find_duplicates', 'describe_duplicate', 'warn_duplicates']


class Duplicate(NamedTuple):
    """A record that repeats the image of an earlier one.

    Attributes:
        record (AnnotationRecord): The later record.
        first (AnnotationRecord): The first record with that image path.
        identical (bool): Whether every field equals the first record's.
    """

    record: AnnotationRecord
    first: AnnotationRecord
    identical: bool


def _key(path: str) -> str:
    return posixpath.normpath(path)


def find_duplicates(records: Sequence[AnnotationRecord]) -> List[Duplicate]:
    """Every record whose image path an earlier record already has, in file order.

    Args:
        records (Sequence[AnnotationRecord]): Validated records of one file.

    Returns:
        list[Duplicate]: One entry per repeating record (a path listed three
        times gives two entries, both pointing at the first record).
    """
    first: Dict[str, AnnotationRecord] = {}
    found = []
    for rec in records:
        earlier = first.setdefault(_key(rec.path), rec)
        if earlier is not rec:
            same = (rec.raw_id, rec.path, rec.captions, rec.split) == (
                earlier.raw_id,
                earlier.path,
                earlier.captions,
                earlier.split,
            )
            found.append(Duplicate(rec, earlier, same))
    return found


def describe_duplicate(dup: Duplicate, path_key: str) -> str:
    """One line naming both records, the path and how they differ."""
    rec, first = dup.record, dup.first
    if dup.identical:
        how = 'an identical record'
    else:
        fields = [
            name
            for name, a, b in (
                ('id', rec.raw_id, first.raw_id),
                ('captions', rec.captions, first.captions),
                ('split', rec.split, first.split),
            )
            if a != b
        ]
        how = f'same image, different {" and ".join(fields) or path_key + " spelling"}'
    return (
        f'record {rec.index} ({rec.split}) repeats {path_key} {rec.path!r} of record '
        f'{first.index} ({first.split}): {how}'
    )


def warn_duplicates(
    duplicates: Sequence[Duplicate],
    ann_file: str,
    path_key: str,
    chosen: Sequence[AnnotationRecord],
    owner: str,
    max_shown: int = 3,
) -> int:
    """Log one warning about the duplicates that involve the ``chosen`` records.

    Args:
        duplicates (Sequence[Duplicate]): Output of :func:`find_duplicates`.
        ann_file (str): Annotation file named in the message.
        path_key (str): Name of the path field.
        chosen (Sequence[AnnotationRecord]): The records of the split being
            built; duplicates in which one of them takes part are counted.
        owner (str): Prefix of the message (dataset class and split).
        max_shown (int): Examples named in the message.

    Returns:
        int: The number of duplicates reported (0: nothing logged).
    """
    indices = {r.index for r in chosen}
    mine = [d for d in duplicates if d.record.index in indices or d.first.index in indices]
    if not mine:
        return 0
    identical = sum(d.identical for d in mine)
    cross = sum(d.record.split != d.first.split for d in mine)
    shown = '; '.join(describe_duplicate(d, path_key) for d in mine[:max_shown])
    more = f'; and {len(mine) - max_shown} more' if len(mine) > max_shown else ''
    print_log(
        f'{owner}: {len(mine)} record(s) of {ann_file} repeat the {path_key} of an earlier '
        f'record ({identical} identical, {len(mine) - identical} conflicting, {cross} across '
        f'splits); each is kept as a separate image. E.g. {shown}{more}. '
        'Run tools/dataset_converters/check_dataset.py to list them all',
        logger='current',
        level=logging.WARNING,
    )
    return len(mine)
