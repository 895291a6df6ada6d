# Copyright (c) tpr_mm contributors. All rights reserved.
"""Evaluate a checkpoint on the config's test split.

python tools/test.py CONFIG CHECKPOINT [--out rankings.json] [--work-dir DIR]
"""

import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a text-to-image person retrieval model')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help="write each query's top-10 gallery images to this JSON")
    parser.add_argument('--work-dir', help='where the test log goes')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override config entries'
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    # Testing reads no training state: skip building the training loader and
    # let the backbone's pretrained weights come from the checkpoint.
    cfg.train_dataloader = None
    cfg.train_cfg = None
    cfg.optim_wrapper = None
    cfg.param_scheduler = None
    if args.out:
        set_ranking_file(cfg, args.out)
    from tpr_mm.apis import prepare_data
    from tpr_mm.registry import RUNNERS

    runner = RUNNERS.build(cfg)  # starts the process group of a distributed run
    prepare_data(runner.cfg)  # generated datasets: written by rank 0, before any is built
    metrics = runner.test()
    from mmengine.dist import is_main_process

    if is_main_process():  # every rank holds the same (gathered) metrics
        print(results_table(metrics, args.checkpoint))


def set_ranking_file(cfg: Config, out: str) -> None:
    """Point the retrieval metric at ``out``, after checking ``out`` can be written.

    Checked before the test runs, so that a bad path costs seconds, not a
    full test whose metrics would be lost.
    """
    if osp.isdir(out):
        raise SystemExit(
            f'--out {out}: is a directory; give a file name such as {out}/rankings.json'
        )
    parent = osp.dirname(osp.abspath(out))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as err:
        raise SystemExit(
            f'--out {out}: cannot create its folder {parent} ({err.strerror})'
        ) from None
    if not os.access(parent, os.W_OK):
        raise SystemExit(f'--out {out}: its folder {parent} is not writable')
    evaluators = (
        cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [cfg.test_evaluator]
    )
    # 'tpr_mm.TextImageRetrievalMetric' (scoped) names the same metric.
    found = [
        e for e in evaluators if str(e.get('type', '')).split('.')[-1] == 'TextImageRetrievalMetric'
    ]
    if not found:
        types = [e.get('type') for e in evaluators]
        raise SystemExit(
            f'--out needs a TextImageRetrievalMetric test evaluator; the config has {types}'
        )
    for evaluator in found:
        evaluator['ranking_file'] = out


def results_table(metrics: dict, checkpoint: str) -> str:
    """Markdown table of the test metrics (values in percent)."""
    keys = [k for k in metrics if k.split('/')[-1] in ('R1', 'R5', 'R10', 'mAP', 'mINP')]
    head = '| checkpoint | ' + ' | '.join(keys) + ' |'
    rule = '|---|' + '---|' * len(keys)
    row = f'| {osp.basename(checkpoint)} | ' + ' | '.join(f'{metrics[k]:.2f}' for k in keys) + ' |'
    return '\n'.join(['', 'Text-to-image retrieval on the test split:', head, rule, row])


if __name__ == '__main__':
    main()
