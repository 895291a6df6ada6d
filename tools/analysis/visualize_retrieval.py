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


def to_queries(records: list, topk: int = 10) -> list:
    """Rankings records -> :class:`RetrievalQuery` panels (hits framed by pid)."""
    return [
        RetrievalQuery(
            str(rec['query']),
            [
                RetrievalHit(hit['img_path'], hit.get('score'), hit['pid'] == rec['query_pid'])
                for hit in rec['results'][:topk]
            ],
        )
        for rec in records
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('rankings', help='JSON written by tools/test.py --out')
    parser.add_argument('--out', required=True, help='output PNG')
    parser.add_argument('--queries', type=int, nargs='*', help='query indices to draw')
    parser.add_argument('--num-queries', type=int, default=4, help='sampled when --queries unset')
    parser.add_argument('--topk', type=int, default=10)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    with open(args.rankings) as f:
        records = json.load(f)
    if args.queries:
        chosen = [records[i] for i in args.queries]
    else:
        rng = random.Random(args.seed)
        chosen = rng.sample(records, min(args.num_queries, len(records)))
    with DefaultScope.overwrite_default_scope('tpr_mm'):
        visualizer = VISUALIZERS.build(VISUALIZER)
    visualizer.visualize_retrieval(to_queries(chosen, args.topk), cols=args.topk, out_file=args.out)
    print(f'wrote {args.out} ({len(chosen)} queries)')


if __name__ == '__main__':
    main()
