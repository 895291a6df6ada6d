# Copyright (c) tpr_mm contributors. All rights reserved.
"""Generate the synthetic text-based person re-id dataset (CUHK-PEDES layout).

Example::

    python tools/dataset_converters/make_synthetic.py --out data/synthetic
    # CUHK-PEDES' exact counts (or ICFG-PEDES'), parallel and resumable:
    python tools/dataset_converters/make_synthetic.py --preset cuhk-size --out data/cuhk_size
    python tools/dataset_converters/make_synthetic.py --preset icfg-size --out data/icfg_size
    # every synthetic set a config names, with its parameters (what tools/train.py prepares):
    python tools/dataset_converters/make_synthetic.py --config configs/clip_sdm_synthetic.py

An existing ``--out`` folder is replaced only when it is empty or is a synthetic
set written by this tool (its ``synthetic_meta.json`` lists every file in it);
any other folder is refused with exit status 1, also with ``--overwrite``.
"""

import argparse
import sys
import time
from typing import List, Optional

from tpr_mm.datasets.synthetic import generate_synthetic_pedes
from tpr_mm.datasets.synthetic.size_true import PRESETS, generate_size_true


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--out', default='data/synthetic', help='output data root')
    parser.add_argument('--num-train-ids', type=int, default=120)
    parser.add_argument('--num-val-ids', type=int, default=30)
    parser.add_argument('--num-test-ids', type=int, default=40)
    parser.add_argument('--images-per-id', type=int, default=4)
    parser.add_argument('--captions-per-image', type=int, default=2)
    parser.add_argument(
        '--image-size',
        type=int,
        nargs=2,
        default=(128, 48),
        metavar=('H', 'W'),
        help='image height and width',
    )
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--preset',
        choices=sorted(PRESETS),
        default=None,
        help='size-true set with the real split counts (ignores the size options); '
        'parallel and resumable: rerun to complete an interrupted run',
    )
    parser.add_argument('--workers', type=int, default=None, help='processes for --preset')
    parser.add_argument(
        '--config',
        default=None,
        help='write every synthetic set this config names, with its parameters (ignores '
        '--out and the size options)',
    )
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='regenerate even if a matching synthetic set exists (a folder that is not a '
        'synthetic set written by this tool is never replaced)',
    )
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    if args.config:
        return prepare_config(args.config)
    try:
        if args.preset:
            stats = generate_size_true(args.out, args.preset, args.seed, args.workers)
        else:
            stats = generate(args)
    except (FileExistsError, ValueError, RuntimeError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    print(f'{"split":<8}{"ids":>8}{"images":>10}{"captions":>10}')
    for split, row in stats.items():
        print(f'{split:<8}{row["ids"]:>8}{row["images"]:>10}{row["captions"]:>10}')
    total = {k: sum(row[k] for row in stats.values()) for k in ('ids', 'images', 'captions')}
    print(f'{"total":<8}{total["ids"]:>8}{total["images"]:>10}{total["captions"]:>10}')
    print(f'data root: {args.out} ({elapsed:.1f} s)')
    return 0


def prepare_config(path: str) -> int:
    from mmengine.config import Config

    from tpr_mm.apis import prepare_data

    try:
        roots = prepare_data(Config.fromfile(path))
    except (FileExistsError, ValueError, RuntimeError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(
        '\n'.join(f'synthetic set ready: {root}' for root in roots) or f'{path}: no synthetic set'
    )
    return 0


def generate(args: argparse.Namespace) -> dict:
    return generate_synthetic_pedes(
        args.out,
        num_train_ids=args.num_train_ids,
        num_val_ids=args.num_val_ids,
        num_test_ids=args.num_test_ids,
        images_per_id=args.images_per_id,
        captions_per_image=args.captions_per_image,
        image_size=tuple(args.image_size),
        seed=args.seed,
        overwrite=args.overwrite,
    )


if __name__ == '__main__':
    sys.exit(main())
