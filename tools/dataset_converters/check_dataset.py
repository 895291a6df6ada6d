# Copyright (c) tpr_mm contributors. All rights reserved.
"""Validate a prepared text-based person re-id folder and print its split statistics.

The annotation is parsed by the registered dataset class itself (the same code
path as training), every referenced image is checked to exist (``--check-images``
also opens and decodes it), and the per-split counts are compared with the
published ones (IRRA's parse; docs/datasets.md).

Example::

    python tools/dataset_converters/check_dataset.py CUHKPEDES data/CUHK-PEDES
    python tools/dataset_converters/check_dataset.py ICFGPEDES data/ICFG-PEDES --check-images

Exit status: 0 when every split that exists parses, no record repeats the image
path of another, and all its images are present (and readable with
``--check-images``; a truncated image counts as unreadable here), 1 otherwise.
"""

import argparse
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from tpr_mm.datasets.annotation import load_annotations
from tpr_mm.datasets.duplicates import describe_duplicate, find_duplicates
from tpr_mm.registry import DATASETS

# Published (ids, images, captions) per split as IRRA parses the files
# (docs/datasets.md#splits-and-identities); None marks a split the benchmark does not have.
Counts = Tuple[int, int, int]
PUBLISHED: Dict[str, Dict[str, Optional[Counts]]] = {
    'CUHKPEDES': {
        'train': (11003, 34054, 68126),
        'val': (1000, 3078, 6158),
        'test': (1000, 3074, 6156),
    },
    'ICFGPEDES': {'train': (3102, 34674, 34674), 'val': None, 'test': (1000, 19848, 19848)},
    'RSTPReid': {
        'train': (3701, 18505, 37010),
        'val': (200, 1000, 2000),
        'test': (200, 1000, 2000),
    },
}
SPLITS = ('train', 'val', 'test')


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('dataset_type', help='registered dataset class, e.g. CUHKPEDES')
    parser.add_argument('data_root', help='folder holding the annotation file and imgs/')
    parser.add_argument('--ann-file', default='', help='annotation file if not the default')
    parser.add_argument('--img-dir', default='imgs', help='image folder under data_root')
    parser.add_argument(
        '--unknown-split',
        default='error',
        choices=('val', 'error', 'ignore'),
        help="records whose split is not train/val/test: 'error' (default here) reports "
        "them, 'val' treats them as val like IRRA, 'ignore' drops them",
    )
    parser.add_argument(
        '--check-images', action='store_true', help='open and decode every image (slow)'
    )
    parser.add_argument(
        '--max-errors', type=int, default=10, help='problems printed per split (all counted)'
    )
    return parser.parse_args(argv)


def build_split(args: argparse.Namespace, split: str):
    """Build the gallery view (one item per image) of ``split``; None if it has no records."""
    import tpr_mm.datasets  # noqa: F401  (registers the dataset classes)

    cfg = {
        'type': args.dataset_type,
        'data_root': args.data_root,
        'split': split,
        'modality': 'image',
        'img_dir': args.img_dir,
        'unknown_split': args.unknown_split,
        'serialize_data': False,
    }
    if args.ann_file:
        cfg['ann_file'] = args.ann_file
    try:
        return DATASETS.build(cfg)
    except ValueError as err:
        if 'has no records' in str(err):
            return None
        raise


def image_problems(dataset, check_images: bool) -> List[str]:
    """Describe every missing (or, with ``check_images``, unreadable) image of a split.

    Images are decoded by the training loader in its strict mode, so a
    truncated file or a decompression bomb is reported with the reason.
    """
    from tpr_mm.datasets.transforms import LoadPersonImage

    load = LoadPersonImage(truncated='error')
    problems = []
    for idx in range(len(dataset)):
        path = dataset.get_data_info(idx)['img_path']
        if not osp.isfile(path):
            problems.append(f'missing image: {path}')
        elif check_images:
            try:
                load(dict(img_path=path))
            except Exception as err:  # any decoder failure is a broken file
                problems.append(f'unreadable image: {path} ({type(err).__name__}: {err})')
    return problems


def duplicate_problems(dataset) -> List[str]:
    """Describe every record of the annotation file that repeats an earlier image path."""
    path_key = type(dataset).PATH_KEY
    records = load_annotations(dataset.ann_file, path_key)
    return [f'duplicate: {describe_duplicate(d, path_key)}' for d in find_duplicates(records)]


def format_counts(counts: Optional[Counts]) -> str:
    if counts is None:
        return '-'
    return ' / '.join(f'{c:,}' for c in counts)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if not osp.isdir(args.data_root):
        print(f'error: data root {args.data_root!r} is not a folder')
        return 1
    published = PUBLISHED.get(args.dataset_type)
    ok = True
    rows = []
    duplicates: Optional[List[str]] = None
    for split in SPLITS:
        try:
            dataset = build_split(args, split)
        except (FileNotFoundError, ValueError, TypeError, KeyError) as err:
            print(f'[{split}] annotation error: {err}')
            return 1
        if dataset is None:
            counts = None
            status = 'absent'
        else:
            if duplicates is None:  # one file for all splits: check it once
                duplicates = duplicate_problems(dataset)
            meta = dataset.metainfo
            counts = (meta['num_ids'], meta['num_images'], meta['num_captions'])
            problems = image_problems(dataset, args.check_images)
            for line in problems[: args.max_errors]:
                print(f'[{split}] {line}')
            if len(problems) > args.max_errors:
                print(f'[{split}] ... {len(problems) - args.max_errors} more problems')
            status = 'ok' if not problems else f'{len(problems)} image problems'
            ok = ok and not problems
        ref = published.get(split) if published else None
        if published is None:
            match = 'n/a'
        else:
            match = 'yes' if counts == ref else 'NO'
        rows.append((split, format_counts(counts), format_counts(ref), match, status))
    header = ('split', 'ids / images / captions', 'published', 'match', 'files')
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    print(f'{args.dataset_type} at {args.data_root}')
    for row in [header] + rows:
        print('  '.join(str(v).ljust(w) for v, w in zip(row, widths)))
    if published is None:
        print(f'(no published counts for {args.dataset_type}; statistics only)')
    if all(r[1] == '-' for r in rows):
        print('error: no split has any records')
        return 1
    if duplicates:
        for line in duplicates[: args.max_errors]:
            print(line)
        if len(duplicates) > args.max_errors:
            print(f'... {len(duplicates) - args.max_errors} more duplicates')
        print(f'{len(duplicates)} record(s) repeat the image path of an earlier record')
        ok = False
    print('OK' if ok else 'FAILED: see the problems above')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
