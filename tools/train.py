# Copyright (c) tpr_mm contributors. All rights reserved.
"""Train a tpr_mm model: config in, MMEngine runner out.

python tools/train.py configs/clip_sdm_synthetic.py [--work-dir DIR]
    [--resume [CKPT]] [--amp] [--cfg-options key=value ...]
"""

import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a text-to-image person retrieval model')
    parser.add_argument('config', help='config file')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work dir '
        'when no path is given',
    )
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config entries, e.g. train_cfg.max_epochs=5',
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


def build_cfg(args: argparse.Namespace) -> Config:
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        from tpr_mm.engine.optim_wrappers import amp_optim_wrapper_cfg

        cfg.optim_wrapper = amp_optim_wrapper_cfg(cfg.optim_wrapper)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main() -> None:
    args = parse_args()
    cfg = build_cfg(args)
    from tpr_mm.apis import prepare_data
    from tpr_mm.registry import RUNNERS

    runner = RUNNERS.build(cfg)  # starts the process group of a distributed run
    prepare_data(runner.cfg)  # generated datasets: written by rank 0, before any is built
    runner.train()


if __name__ == '__main__':
    main()
