# Copyright (c) tpr_mm contributors. All rights reserved.
"""One prepared GPU check: every path only a GPU exercises, one table, <= 10 minutes.

Usage:
    tools/analysis/gpu_check.sh [--budget 570] [--only amp,ddp] [--steps 3]
    tools/analysis/gpu_check.sh --cpu-smoke   # driver machinery on CPU, tiny model

Checks (each in its own process, with its own time limit, in this order):
AMP fp16 + bf16 training steps of every method's real config at real size with
random weights; DDP over all visible GPUs with NCCL; the retrieval metric on
CUDA at ICFG-PEDES size vs CPU; faiss GPU kNN inside the clustering vs the CPU
path; measured images/s of a training-epoch slice of the baseline. Without
CUDA it says so and exits 0. Exit status 1 if any check FAILs. See
docs/performance.md.
"""

import argparse
import os
import os.path as osp
import shutil
import sys
import tempfile

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NO_CUDA = 'gpu_check: CUDA is not available on this machine; nothing to check (run it on a GPU).'
# (config, own time limit in seconds); absent configs are reported as skipped.
AMP_CONFIGS = [
    ('clip_sdm_cuhk', 60),
    ('cpcl_cuhk', 60),
    ('cfine_cuhk', 60),
    ('cfine_bert_published_cuhk', 60),
    ('lcr2s_teacher_cuhk', 90),
    ('lcr2s_student_cuhk', 90),
    ('irra_cuhk', 60),
    ('rde_cuhk', 60),
    ('lcr2s_rn50_bert_teacher_cuhk', 90),
    ('lcr2s_rn50_bert_student_cuhk', 90),
]
BASELINE = 'clip_sdm_cuhk'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--budget', type=float, default=570.0, help='total seconds (<= 600)')
    parser.add_argument('--only', default='', help='comma list: amp,ddp,metric,faiss,slice')
    parser.add_argument('--steps', type=int, default=3, help='timed AMP steps per dtype')
    parser.add_argument(
        '--cpu-smoke',
        action='store_true',
        help='run the AMP-step check on CPU with a tiny model (exercises the driver)',
    )
    # Internal: one check in a child process.
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--out', help=argparse.SUPPRESS)
    parser.add_argument('--config', help=argparse.SUPPRESS)
    parser.add_argument('--work-dir', help=argparse.SUPPRESS)
    parser.add_argument('--device', default='cuda', help=argparse.SUPPRESS)
    parser.add_argument('--tiny', action='store_true', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_child(args) -> int:
    from tpr_mm.testing import gpu_checks, gpu_loop_checks, gpu_search_checks
    from tpr_mm.utils.check_runner import make_row, write_rows

    try:
        if args.child == 'amp':
            rows = gpu_checks.amp_steps(
                args.config, args.work_dir, args.device, ['fp16', 'bf16'], args.steps, args.tiny
            )
        elif args.child == 'ddp':
            rows = gpu_loop_checks.ddp_worker(args.config, args.work_dir)
            if int(os.environ.get('RANK', 0)) != 0:
                return 0
        elif args.child == 'slice':
            rows = gpu_loop_checks.epoch_slice(args.config, args.work_dir)
        elif args.child == 'metric':
            rows = gpu_search_checks.metric_on_device(args.device)
        elif args.child == 'faiss':
            rows = gpu_search_checks.faiss_clustering()
        else:
            raise ValueError(f'unknown check {args.child!r}')
    except Exception as exc:
        write_rows(args.out, [make_row(args.child, 'FAIL', 0.0, f'{type(exc).__name__}: {exc}')])
        raise
    write_rows(args.out, rows)
    return 0


def _me(child: str, work_dir: str, *extra: str) -> list:
    script = osp.abspath(__file__)
    return [
        sys.executable,
        script,
        '--child',
        child,
        '--out',
        '{out}',
        '--work-dir',
        work_dir,
        *extra,
    ]


def build_specs(args, work_dir: str, num_gpus: int):
    """(check specs, rows of checks skipped up front) in run order."""
    from tpr_mm.utils.check_runner import CheckSpec, make_row

    cfg = lambda name: osp.join(ROOT, 'configs', f'{name}.py')  # noqa: E731
    steps = ['--steps', str(args.steps)]
    if args.cpu_smoke:
        argv = _me('amp', work_dir, '--config', cfg(BASELINE), '--device', 'cpu', '--tiny')
        return [CheckSpec(f'amp {BASELINE} (cpu smoke)', argv + ['--steps', '1'], 120)], []
    specs, skipped = [], []
    wanted = set(filter(None, args.only.split(','))) or {'amp', 'ddp', 'metric', 'faiss', 'slice'}
    amp = []
    for name, limit in AMP_CONFIGS:
        if not osp.isfile(cfg(name)):
            skipped.append(make_row(f'amp {name}', 'skipped', 0.0, 'skipped: config not present'))
            continue
        amp.append(
            CheckSpec(f'amp {name}', _me('amp', work_dir, '--config', cfg(name), *steps), limit)
        )
    if 'amp' in wanted:
        specs += amp[:1]  # the baseline first, the other methods after the one-off checks
    if 'ddp' in wanted:
        torchrun = [sys.executable, '-m', 'torch.distributed.run', '--standalone']
        argv = (
            torchrun
            + [f'--nproc_per_node={num_gpus}']
            + _me('ddp', work_dir, '--config', cfg(BASELINE))[1:]
        )
        specs.append(CheckSpec(f'ddp nccl x{num_gpus}', argv, 150))
    if 'metric' in wanted:
        specs.append(CheckSpec('metric cuda', _me('metric', work_dir), 90))
    if 'faiss' in wanted:
        specs.append(CheckSpec('faiss gpu clustering', _me('faiss', work_dir), 150))
    if 'slice' in wanted:
        specs.append(
            CheckSpec(
                f'epoch slice {BASELINE}', _me('slice', work_dir, '--config', cfg(BASELINE)), 150
            )
        )
    if 'amp' in wanted:
        specs += amp[1:]
    return specs, (skipped if 'amp' in wanted else [])


def main(argv=None) -> int:
    # Children (and torchrun workers) import this checkout's tpr_mm.
    sys.path.insert(0, ROOT)
    os.environ['PYTHONPATH'] = os.pathsep.join(filter(None, [ROOT, os.environ.get('PYTHONPATH')]))
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    import torch

    if not torch.cuda.is_available() and not args.cpu_smoke:
        print(NO_CUDA)
        return 0
    from tpr_mm.utils.check_runner import exit_status, format_table, run_checks

    num_gpus = torch.cuda.device_count()
    if args.cpu_smoke:
        print('gpu_check --cpu-smoke: driver machinery on CPU with a tiny model; no GPU path runs.')
    else:
        names = ', '.join(torch.cuda.get_device_name(i) for i in range(num_gpus))
        print(
            f'gpu_check: {num_gpus} GPU(s): {names}; torch {torch.__version__}, '
            f'CUDA {torch.version.cuda}; budget {args.budget:.0f} s'
        )
    work_dir = tempfile.mkdtemp(prefix='tpr_gpu_check_')
    try:
        specs, skipped = build_specs(args, work_dir, max(num_gpus, 1))

        def progress(rows):
            for r in rows:
                print(
                    f'  [{r["status"]}] {r["check"]} ({r["seconds"]:.1f} s) {r["figure"]}',
                    flush=True,
                )

        rows = run_checks(specs, min(args.budget, 600.0), on_rows=progress) + skipped
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    print(format_table(rows))
    status = exit_status(rows)
    print('gpu_check: ' + ('some checks FAILED' if status else 'no check failed'))
    return status


if __name__ == '__main__':
    sys.exit(main())
