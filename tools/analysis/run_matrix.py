# Copyright (c) tpr_mm contributors. All rights reserved.
"""Run configs × seeds and report mean ± 95 % CI and paired differences.

    python tools/analysis/run_matrix.py configs/clip_sdm_synthetic.py \
        configs/cpcl_synthetic.py --seeds 0 1 2 --baseline clip_sdm_synthetic \
        --out-dir work_dirs/matrix [--cfg-options train_cfg.max_epochs=10]

Resumable: finished cells (``<out-dir>/<config>/seed<S>/matrix_result.json``)
are skipped and an interrupted cell resumes from its latest checkpoint, so the
command can simply be started again (e.g. under ``nohup``). Writes
``matrix.json``, ``matrix.md`` and ``matrix_R1.png`` into ``--out-dir``.
``--report-only`` summarises the finished cells without running anything.
"""

import argparse
import os
import os.path as osp
import sys

from mmengine.logging import MMLogger

from tpr_mm.apis.experiment_matrix import (
    RESULT_FILE,
    execute_run,
    plan_runs,
    run_matrix,
    write_report,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='configs x seeds with confidence intervals')
    parser.add_argument('configs', nargs='+', help='config files')
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    parser.add_argument('--baseline', help='config stem the others are paired against')
    parser.add_argument('--out-dir', default='work_dirs/matrix')
    parser.add_argument('--cfg-options', nargs='+', default=[], help='key=value for every run')
    parser.add_argument('--report-only', action='store_true', help='summarise finished cells')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    logger = MMLogger.get_instance('run_matrix', log_file=osp.join(args.out_dir, 'matrix.log'))
    runs = plan_runs(args.configs, args.seeds, args.out_dir)
    if args.report_only:
        runs = [r for r in runs if osp.isfile(osp.join(r.work_dir, RESULT_FILE))]
    tools_dir = osp.dirname(osp.dirname(osp.abspath(__file__)))
    results = run_matrix(
        runs,
        execute=lambda r: execute_run(r, args.cfg_options, sys.executable, tools_dir),
        logger=logger,
    )
    paths = write_report(results, args.out_dir, baseline=args.baseline)
    with open(paths['md'], encoding='utf-8') as f:
        logger.info('\n' + f.read())
    logger.info(f'wrote {paths["json"]}, {paths["md"]}, {paths["png"]}')


if __name__ == '__main__':
    main()
