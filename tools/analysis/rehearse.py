# Copyright (c) tpr_mm contributors. All rights reserved.
"""Rehearse a real config at true data size with a shrunk backbone.

Runs the config's dataloaders, pipelines, hooks (CPCL: the full pseudo-label
pass), one training epoch, validation and the test on a size-true synthetic
set, with only the backbone width/depth shrunk; prints and writes a table per
phase (wall time, peak RSS, items/s) and a projected GPU epoch time of the
unshrunk model (measured FLOPs, stated throughput; a projection).

Example::

    python tools/dataset_converters/make_synthetic.py --preset cuhk-size --out data/cuhk_size
    python tools/analysis/rehearse.py configs/cpcl_cuhk.py --data-root data/cuhk_size
"""

import argparse
import json
import os
import os.path as osp

from tpr_mm.apis.epoch_projection import DEFAULT_DEVICE_TFLOPS
from tpr_mm.apis.rehearsal import format_table, run_rehearsal


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--data-root', default='data/cuhk_size', help='size-true set')
    parser.add_argument('--work-dir', default=None)
    parser.add_argument('--device-tflops', type=float, default=DEFAULT_DEVICE_TFLOPS)
    parser.add_argument('--teacher-checkpoint', default=None, help='LCR2S student only')
    parser.add_argument('--no-test', action='store_true')
    parser.add_argument(
        '--standin-bert-vocab',
        action='store_true',
        help='BERT configs without bert-base-uncased: tokenise with a stand-in vocabulary '
        'written into the work dir (speed and memory are unchanged; token ids are not real)',
    )
    parser.add_argument(
        '--checkpoint-interval',
        type=int,
        default=None,
        metavar='N',
        help='save a checkpoint every N iterations (the newest is kept), so that a long '
        'rehearsal can be continued with --resume after an interruption',
    )
    parser.add_argument(
        '--resume',
        action='store_true',
        help='continue an interrupted rehearsal from the newest checkpoint in the work dir '
        '(pass the same arguments, --checkpoint-interval included)',
    )
    parser.add_argument(
        '--time-steps',
        type=int,
        default=0,
        metavar='N',
        help='only time N training steps of the rehearsal model on one real batch '
        '(CPU seconds per step and the epoch estimate) instead of a full rehearsal',
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    name = osp.splitext(osp.basename(args.config))[0]
    work_dir = args.work_dir or osp.join('work_dirs', 'rehearsal', name)
    bert_vocab = None
    if args.standin_bert_vocab:
        from tpr_mm.testing.synthetic_batches import write_standin_bert_vocab

        os.makedirs(work_dir, exist_ok=True)
        bert_vocab = write_standin_bert_vocab(osp.join(work_dir, 'standin_vocab.txt'))
    if args.time_steps:
        from tpr_mm.apis.step_timing import time_train_steps

        timing = time_train_steps(args.config, args.data_root, args.time_steps, bert_vocab)
        print(json.dumps(timing, indent=2))
        return
    result = run_rehearsal(
        args.config,
        args.data_root,
        work_dir,
        args.device_tflops,
        args.teacher_checkpoint,
        test=not args.no_test,
        bert_vocab=bert_vocab,
        checkpoint_interval=args.checkpoint_interval,
        resume=args.resume,
    )
    print(format_table(result))
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
