# Copyright (c) tpr_mm contributors. All rights reserved.
"""Configs × seeds: train, test, and summarise with confidence intervals.

Each run is ``tools/train.py`` (the validation split picks the checkpoint)
followed by ``tools/test.py`` on that checkpoint, in its own work dir
``<out_dir>/<config stem>/seed<S>``. A finished run leaves
``matrix_result.json`` there and is skipped by later invocations; an
interrupted one resumes from its latest checkpoint. Nothing here selects on
the test split: the checkpoint is the validation-best one, or the last epoch
for datasets without a validation split.
"""

import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from mmengine.logging import MMLogger

from tpr_mm.evaluation.functional.stats import Interval, summarize_runs
from tpr_mm.fileio import atomic_write_text

METRICS = ('R1', 'R5', 'R10', 'mAP', 'mINP')
RESULT_FILE = 'matrix_result.json'


@dataclass(frozen=True)
class MatrixRun:
    """One (config, seed) cell of the matrix."""

    config: str
    seed: int
    work_dir: str

    @property
    def name(self) -> str:
        return osp.splitext(osp.basename(self.config))[0]


def plan_runs(configs: Sequence[str], seeds: Sequence[int], out_dir: str) -> List[MatrixRun]:
    """Every (config, seed) pair, configs outermost.

    Raises:
        FileNotFoundError: a config does not exist.
        ValueError: two configs share a file stem (their work dirs would clash).
    """
    stems: Dict[str, str] = {}
    for cfg in configs:
        if not osp.isfile(cfg):
            raise FileNotFoundError(f'config not found: {cfg}')
        stem = osp.splitext(osp.basename(cfg))[0]
        if stem in stems and stems[stem] != cfg:
            raise ValueError(f'configs {stems[stem]} and {cfg} share the name {stem!r}')
        stems[stem] = cfg
    return [
        MatrixRun(cfg, int(s), osp.join(out_dir, osp.splitext(osp.basename(cfg))[0], f'seed{s}'))
        for cfg in configs
        for s in seeds
    ]


def read_test_metrics(work_dir: str) -> Dict[str, float]:
    """Metrics of the newest test log in ``work_dir``.

    ``tools/test.py`` leaves ``<work_dir>/<timestamp>/<timestamp>.json``
    (written by ``TPRLoggerHook``) whose keys end in the metric names, e.g.
    ``t2i/R1``.

    Raises:
        FileNotFoundError: no test-metric JSON in ``work_dir``.
    """
    found = []
    for path in glob.glob(osp.join(work_dir, '*', '*.json')):
        stamp = osp.basename(osp.dirname(path))
        if osp.basename(path) != f'{stamp}.json':
            continue
        try:
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        values = {k.split('/')[-1]: v for k, v in data.items() if k.split('/')[-1] in METRICS}
        if values:
            found.append((stamp, path, values))
    if not found:
        raise FileNotFoundError(f'{work_dir}: no test-metric JSON (<timestamp>/<timestamp>.json)')
    return max(found)[2]


def select_checkpoint(work_dir: str) -> str:
    """The validation-best checkpoint, else the one ``last_checkpoint`` names.

    Raises:
        FileNotFoundError: the run left no checkpoint.
    """
    best = sorted(glob.glob(osp.join(work_dir, 'best_*.pth')), key=osp.getmtime)
    if best:
        return best[-1]
    last = osp.join(work_dir, 'last_checkpoint')
    if osp.isfile(last):
        with open(last, encoding='utf-8') as f:
            path = f.read().strip()
        if path and osp.isfile(path):
            return path
    raise FileNotFoundError(f'{work_dir}: no best_*.pth and no usable last_checkpoint')


def _run(cmd: List[str], log_path: str) -> None:
    with open(log_path, 'a', encoding='utf-8') as log:
        log.write(f'\n$ {" ".join(cmd)}\n')
        log.flush()
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f'command failed with exit code {proc.returncode}: {" ".join(cmd)} '
            f'(output in {log_path})'
        )


def execute_run(
    run: MatrixRun,
    cfg_options: Sequence[str] = (),
    python: str = sys.executable,
    tools_dir: str = 'tools',
) -> dict:
    """Train and test one cell unless its result exists; return the result.

    Args:
        run (MatrixRun): The cell.
        cfg_options (Sequence[str]): Extra ``key=value`` overrides for both tools.
        python (str): Interpreter to run the tools with.
        tools_dir (str): Folder holding ``train.py`` and ``test.py``.

    Returns:
        dict: ``{'config', 'seed', 'checkpoint', 'metrics', 'seconds'}``.
    """
    result_path = osp.join(run.work_dir, RESULT_FILE)
    if osp.isfile(result_path):
        with open(result_path, encoding='utf-8') as f:
            return json.load(f)
    os.makedirs(run.work_dir, exist_ok=True)
    log_path = osp.join(run.work_dir, 'matrix.log')
    start = time.time()
    options = [f'randomness.seed={run.seed}', *cfg_options]
    train = [python, osp.join(tools_dir, 'train.py'), run.config, '--work-dir', run.work_dir]
    if osp.isfile(osp.join(run.work_dir, 'last_checkpoint')):
        train.append('--resume')
    _run(train + ['--cfg-options', *options], log_path)
    ckpt = select_checkpoint(run.work_dir)
    test = [python, osp.join(tools_dir, 'test.py'), run.config, ckpt, '--work-dir', run.work_dir]
    _run(test + ['--cfg-options', *options], log_path)
    result = dict(
        config=run.config,
        seed=run.seed,
        checkpoint=osp.basename(ckpt),
        metrics=read_test_metrics(run.work_dir),
        seconds=round(time.time() - start, 1),
    )
    atomic_write_text(json.dumps(result, indent=2), result_path)
    return result


def run_matrix(
    runs: Sequence[MatrixRun],
    execute: Callable[[MatrixRun], dict] = execute_run,
    logger: Optional[MMLogger] = None,
) -> Dict[str, Dict[int, Dict[str, float]]]:
    """Execute every cell in order, logging progress; ``{config: {seed: metrics}}``."""
    logger = logger or MMLogger.get_current_instance()
    results: Dict[str, Dict[int, Dict[str, float]]] = {}
    start = time.time()
    for i, run in enumerate(runs, 1):
        done = osp.isfile(osp.join(run.work_dir, RESULT_FILE))
        logger.info(
            f'[{i}/{len(runs)}] {run.name} seed {run.seed}: '
            f'{"already done" if done else "running"} '
            f'({(time.time() - start) / 60:.1f} min elapsed)'
        )
        result = execute(run)
        results.setdefault(run.name, {})[run.seed] = result['metrics']
        logger.info(
            f'[{i}/{len(runs)}] {run.name} seed {run.seed}: R1 '
            f'{result["metrics"]["R1"]:.2f}, mAP {result["metrics"]["mAP"]:.2f}'
        )
    return results


def _cell(iv: Interval) -> str:
    return iv.format(2)


def matrix_markdown(summary: Dict[str, dict], baseline: Optional[str] = None) -> str:
    """Markdown tables: mean ± 95 % CI per config, then paired differences."""
    lines = [
        '| config | seeds | ' + ' | '.join(METRICS) + ' |',
        '|---|---|' + '---|' * len(METRICS),
    ]
    for name, entry in summary.items():
        cells = ' | '.join(_cell(entry['metrics'][m]) for m in METRICS)
        lines.append(f'| {name} | {len(entry["seeds"])} | {cells} |')
    if baseline is not None:
        lines += [
            '',
            f'Paired difference to `{baseline}` (same seeds; * = interval excludes 0):',
            '',
            '| config | ' + ' | '.join(f'Δ{m}' for m in METRICS) + ' |',
            '|---|' + '---|' * len(METRICS),
        ]
        for name, entry in summary.items():
            if name == baseline:
                continue
            diffs = entry['vs_baseline']
            cells = ' | '.join(
                _cell(diffs[m]) + (' *' if diffs[m].excludes_zero else '') for m in METRICS
            )
            lines.append(f'| {name} | {cells} |')
    return '\n'.join(lines) + '\n'


def matrix_json(summary: Dict[str, dict]) -> dict:
    """The summary with intervals as plain dicts."""

    def plain(iv: Interval) -> dict:
        return dict(
            mean=iv.mean,
            half_width=iv.half_width,
            n=iv.n,
            std=iv.std,
            excludes_zero=iv.excludes_zero,
        )

    return {
        name: dict(
            seeds=entry['seeds'],
            metrics={m: plain(iv) for m, iv in entry['metrics'].items()},
            vs_baseline={m: plain(iv) for m, iv in entry['vs_baseline'].items()},
        )
        for name, entry in summary.items()
    }


def plot_matrix(summary: Dict[str, dict], path: str, metric: str = 'R1') -> None:
    """Bar chart of ``metric`` per config with 95 % CI error bars, as PNG."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    names = list(summary)
    means = [summary[n]['metrics'][metric].mean for n in names]
    errs = [summary[n]['metrics'][metric].half_width for n in names]
    errs = [0.0 if e != e else e for e in errs]  # NaN (one seed) -> no bar
    fig, ax = plt.subplots(figsize=(max(4.0, 0.8 * len(names) + 2), 4))
    ax.bar(range(len(names)), means, yerr=errs, capsize=4, color='#4c72b0')
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=35, ha='right', fontsize=8)
    ax.set_ylabel(f'test {metric} (%), mean ± 95 % CI')
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(
    results: Dict[str, Dict[int, Dict[str, float]]], out_dir: str, baseline: Optional[str] = None
) -> Dict[str, str]:
    """Write ``matrix.json``, ``matrix.md`` and ``matrix_R1.png``; return their paths."""
    summary = summarize_runs(results, METRICS, baseline=baseline)
    os.makedirs(out_dir, exist_ok=True)
    paths = {
        k: osp.join(out_dir, f)
        for k, f in (('json', 'matrix.json'), ('md', 'matrix.md'), ('png', 'matrix_R1.png'))
    }
    atomic_write_text(
        json.dumps(dict(baseline=baseline, runs=results, summary=matrix_json(summary)), indent=2),
        paths['json'],
    )
    atomic_write_text(matrix_markdown(summary, baseline), paths['md'])
    plot_matrix(summary, paths['png'])
    return paths
