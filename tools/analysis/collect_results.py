# Copyright (c) tpr_mm contributors. All rights reserved.
"""Print the model-zoo table of finished runs.

python tools/analysis/collect_results.py work_dirs/* [--index model-index.yml] [--all]

Each argument is a run folder (a ``--work-dir`` of tools/train.py and tools/test.py). Its config
is found from the config MMEngine dumped into it, its result is the newest test of that folder,
and the published numbers come from the model index (configs/metafiles/*.yml).
"""

import argparse
import os.path as osp
import sys

from tpr_mm.utils.model_index import load_model_index
from tpr_mm.utils.results_collector import collect_results, format_table

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Model-zoo table of run folders')
    parser.add_argument('run_dirs', nargs='+', help='work dirs, e.g. work_dirs/*')
    parser.add_argument('--index', default=osp.join(ROOT, 'model-index.yml'), help='model index')
    parser.add_argument('--all', action='store_true', help='also list configs without a run')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    models = load_model_index(args.index)
    results, problems = collect_results(args.run_dirs, models)
    for problem in problems:
        print(f'skipped: {problem}', file=sys.stderr)
    if not results and not args.all:
        print('no run folder with test results', file=sys.stderr)
        return 1
    print(format_table(results, models, include_unrun=args.all))
    return 0


if __name__ == '__main__':
    sys.exit(main())
