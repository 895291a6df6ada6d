# Copyright (c) tpr_mm contributors. All rights reserved.
"""Draw each query caption above its top-k gallery images (green = match).

    python tools/analysis/visualize_retrieval.py work_dirs/demo/rankings.json \
        --out retrievals.png [--num-queries 4 | --queries 0 17 42] [--seed 0]

The rankings file is written by ``tools/test.py CONFIG CKPT --out FILE``.
"""

import argparse
import json
import random

from mmengine.registry import DefaultScope

from tpr_mm.registry import VISUALIZERS
from tpr_mm.visualization import RetrievalHit, RetrievalQuery
from tpr_mm.visualization.retrieval_visualizer import FRAME, PAD, THUMB_H, THUMB_W  # noqa: F401

VISUALIZER = dict(type='RetrievalVisualizer', name='visualize_retrieval')


def to_queries(records: list, topk: int = 10, where: str = 'rankings') -> list:
    """Rankings records -> :class:`RetrievalQuery` panels (hits framed by pid).

    A malformed record raises ``SystemExit`` naming ``where``, the record and
    the field.
    """
    queries = []
    for i, rec in enumerate(records):
        try:
            hits = [
                RetrievalHit(hit['img_path'], hit.get('score'), hit['pid'] == rec['query_pid'])
                for hit in rec['results'][:topk]
            ]
            queries.append(RetrievalQuery(str(rec['query']), hits))
        except (KeyError, TypeError) as err:
            field = f'field {err.args[0]!r} missing' if isinstance(err, KeyError) else str(err)
            raise SystemExit(
                f'{where}: record {rec.get("query_idx", i) if isinstance(rec, dict) else i}: '
                f'{field}; not a rankings file of tools/test.py --out?'
            ) from None
    return queries


def read_rankings(path: str) -> list:
    """The records of a rankings file; a bad file is a one-line error naming it."""
    try:
        with open(path, encoding='utf-8') as f:
            records = json.load(f)
    except (OSError, ValueError) as err:
        raise SystemExit(f'{path}: cannot read the rankings ({err})') from None
    if not isinstance(records, list):
        raise SystemExit(f'{path}: expected a JSON list of queries, got {type(records).__name__}')
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('rankings', help='JSON written by tools/test.py --out')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--queries', type=int, nargs='*', help='query indices to draw')
    parser.add_argument('--num-queries', type=int, default=4, help='sampled when --queries unset')
    parser.add_argument('--topk', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    records = read_rankings(args.rankings)
    if args.queries:
        bad = [i for i in args.queries if not -len(records) <= i < len(records)]
        if bad:
            raise SystemExit(
                f'--queries {bad}: {args.rankings} holds {len(records)} queries '
                f'(0..{len(records) - 1})'
            )
        chosen = [records[i] for i in args.queries]
    else:
        rng = random.Random(args.seed)
        chosen = rng.sample(records, min(args.num_queries, len(records)))
    with DefaultScope.overwrite_default_scope('tpr_mm'):
        visualizer = VISUALIZERS.build(VISUALIZER)
    visualizer.visualize_retrieval(
        to_queries(chosen, args.topk, args.rankings), cols=args.topk, out_file=args.out
    )
    print(f'wrote {args.out} ({len(chosen)} queries)')


if __name__ == '__main__':
    main()
