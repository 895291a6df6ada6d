# Copyright (c) tpr_mm contributors. All rights reserved.
"""Train a teacher, then a student distilled from it (LCR²S), in one command.

    python tools/train_two_stage.py configs/lcr2s_teacher_synthetic.py \\
        configs/lcr2s_student_synthetic.py [--teacher-work-dir DIR] [--student-work-dir DIR]
        [--teacher-checkpoint CKPT] [--prefer best|last] [--gpus N] [--amp] [--resume]
        [--cfg-options k=v ...] [--teacher-options k=v ...] [--student-options k=v ...]

Stage 1 runs ``tools/train.py TEACHER_CFG``. The teacher checkpoint is then
chosen in its work dir (the val-selected ``best_*.pth``; the last checkpoint
when the config keeps no best, e.g. ICFG-PEDES) and passed to stage 2 as
``model.teacher_checkpoint``. ``--teacher-checkpoint`` skips stage 1.
``--cfg-options`` apply to both stages. The choice is written to
``STUDENT_WORK_DIR/two_stage.json``.
"""

import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Two-stage (teacher -> student) training')
    parser.add_argument('teacher_config')
    parser.add_argument('student_config')
    parser.add_argument('--teacher-work-dir', help='default: work_dirs/<teacher config name>')
    parser.add_argument('--student-work-dir', help='default: work_dirs/<student config name>')
    parser.add_argument(
        '--teacher-checkpoint',
        help='use this trained teacher (file, last_checkpoint or work dir) and skip stage 1',
    )
    parser.add_argument(
        '--prefer',
        choices=['best', 'last'],
        default='best',
        help='teacher checkpoint to distil from (default: the val-selected best)',
    )
    parser.add_argument(
        '--gpus',
        type=int,
        default=1,
        help='processes per stage; > 1 launches torch.distributed.run',
    )
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--resume',
        action='store_true',
        help='continue each stage from the latest checkpoint in its work dir '
        '(a finished stage does not train again)',
    )
    parser.add_argument('--cfg-options', nargs='+', default=[], help='options for both stages')
    parser.add_argument('--teacher-options', nargs='+', default=[], help='stage-1 options')
    parser.add_argument('--student-options', nargs='+', default=[], help='stage-2 options')
    return parser.parse_args()


def default_work_dir(config: str) -> str:
    return osp.join('work_dirs', osp.splitext(osp.basename(config))[0])


def train_command(config: str, work_dir: str, options: list, args) -> list:
    train_py = osp.join(ROOT, 'tools', 'train.py')
    if args.gpus > 1:
        cmd = [
            sys.executable,
            '-m',
            'torch.distributed.run',
            f'--nproc_per_node={args.gpus}',
            train_py,
            config,
            '--launcher',
            'pytorch',
        ]
    else:
        cmd = [sys.executable, train_py, config]
    cmd += ['--work-dir', work_dir]
    if args.amp:
        cmd.append('--amp')
    if args.resume:
        cmd.append('--resume')
    if options:
        cmd += ['--cfg-options'] + options
    return cmd


def run(cmd: list, stage: str) -> float:
    print(f'[{stage}] ' + ' '.join(cmd), flush=True)
    env = dict(os.environ)
    env['PYTHONPATH'] = ROOT + (os.pathsep + env['PYTHONPATH'] if env.get('PYTHONPATH') else '')
    start = time.time()
    code = subprocess.call(cmd, env=env)
    if code != 0:
        sys.exit(f'[{stage}] failed with exit code {code}')
    return time.time() - start


def main() -> None:
    args = parse_args()
    from tpr_mm.engine.runner.checkpoint import resolve_checkpoint

    teacher_dir = args.teacher_work_dir or default_work_dir(args.teacher_config)
    student_dir = args.student_work_dir or default_work_dir(args.student_config)
    times = {}
    if args.teacher_checkpoint:
        source = args.teacher_checkpoint
    else:
        times['teacher_s'] = run(
            train_command(
                args.teacher_config, teacher_dir, args.cfg_options + args.teacher_options, args
            ),
            'teacher',
        )
        source = teacher_dir
    checkpoint = resolve_checkpoint(source, prefer=args.prefer)
    print(f'[student] distilling from teacher checkpoint {checkpoint}', flush=True)
    options = args.cfg_options + args.student_options + [f'model.teacher_checkpoint={checkpoint}']
    times['student_s'] = run(
        train_command(args.student_config, student_dir, options, args), 'student'
    )
    os.makedirs(student_dir, exist_ok=True)
    with open(osp.join(student_dir, 'two_stage.json'), 'w') as f:
        json.dump(
            dict(
                teacher_config=args.teacher_config,
                student_config=args.student_config,
                teacher_checkpoint=checkpoint,
                **times,
            ),
            f,
            indent=2,
        )
    print(f'done: student in {student_dir} (teacher {checkpoint})')


if __name__ == '__main__':
    sys.path.insert(0, ROOT)
    main()
