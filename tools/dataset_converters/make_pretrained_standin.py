# Copyright (c) tpr_mm contributors. All rights reserved.
"""Pretrain (once) the small CLIP stand-in on the disjoint synthetic corpus, and cache it.

Example::

    python tools/dataset_converters/make_pretrained_standin.py \
        configs/clip_itc_pretrain_standin.py --out work_dirs/pretrained_standin \
        --zero-shot-config configs/clip_sdm_synthetic.py

Writes ``<out>/standin.pth`` and ``<out>/standin_meta.json``; a second run with the same config
reuses them. ``--zero-shot-config`` then tests the stand-in, without fine-tuning, on that
config's test split and writes ``<out>/zero_shot.json``.
"""

import argparse
import json
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from tpr_mm.apis.pretrained_standin import make_pretrained_standin, zero_shot_test
from tpr_mm.fileio import atomic_write_text


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='pretraining config (clip_itc_pretrain_standin.py)')
    parser.add_argument('--out', default='work_dirs/pretrained_standin', help='output folder')
    parser.add_argument('--force', action='store_true', help='retrain even if cached')
    parser.add_argument('--zero-shot-config', help='test the stand-in on this config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='config overrides')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'tpr_mm'))
    logger = MMLogger.get_instance('make_pretrained_standin')
    result = make_pretrained_standin(cfg, args.out, force=args.force)
    logger.info(f'stand-in checkpoint: {result["checkpoint"]} (reused: {result["reused"]})')
    if args.zero_shot_config:
        eval_cfg = Config.fromfile(args.zero_shot_config)
        metrics = zero_shot_test(eval_cfg, result['checkpoint'], osp.join(args.out, 'zero_shot'))
        summary = dict(config=args.zero_shot_config, checkpoint=result['checkpoint'], **metrics)
        atomic_write_text(json.dumps(summary, indent=2), osp.join(args.out, 'zero_shot.json'))
        logger.info(f'zero-shot test: {json.dumps(metrics)}')


if __name__ == '__main__':
    main()
