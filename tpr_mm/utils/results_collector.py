# Copyright (c) tpr_mm contributors. All rights reserved.
"""Collect the test metrics of run folders into the model-zoo table.

A run folder is a ``work_dir``: MMEngine dumps the config there as ``<config stem>.py`` at every
start, and after ``tools/test.py`` the test metrics land in ``<work_dir>/<timestamp>/
<timestamp>.json`` (written by :class:`~tpr_mm.engine.hooks.TPRLoggerHook`, keys ``t2i/R1``…).
The config stem names the model-index entry, which holds the paper's numbers.
"""

import glob
import json
import os.path as osp
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Tuple

from .model_index import METRICS, ModelEntry

#: Metafile metric -> key in the test-metric JSON.
JSON_KEYS = {
    'Rank-1': 't2i/R1',
    'Rank-5': 't2i/R5',
    'Rank-10': 't2i/R10',
    'mAP': 't2i/mAP',
    'mINP': 't2i/mINP',
}


@dataclass
class RunResult:
    """The latest test of one run folder."""

    run_dir: str
    name: str  # config stem
    metrics: Dict[str, float]  # metafile metric names
    metrics_file: str
    checkpoint: Optional[str]


def run_config_stem(run_dir: str, known: Iterable[str]) -> str:
    """The config stem of a run folder, from the config MMEngine dumped into it.

    Raises:
        ValueError: no dumped config of a known model, or several and none named like the folder.
    """
    known = set(known)
    stems = sorted(osp.splitext(osp.basename(p))[0] for p in glob.glob(osp.join(run_dir, '*.py')))
    matches = [s for s in stems if s in known]
    if len(matches) == 1:
        return matches[0]
    if osp.basename(osp.normpath(run_dir)) in matches:
        return osp.basename(osp.normpath(run_dir))
    if not matches:
        raise ValueError(
            f'{run_dir}: no dumped config of a model-index entry (found {stems or "no *.py"}); '
            'was it written by tools/train.py or tools/test.py from a config in configs/?'
        )
    raise ValueError(f'{run_dir}: several dumped configs {matches}; keep one run per folder')


def latest_test_metrics(run_dir: str) -> Tuple[str, Dict[str, float]]:
    """``(path, metrics)`` of the newest ``<timestamp>/<timestamp>.json`` in ``run_dir``.

    Raises:
        FileNotFoundError: no test has been run into this folder.
        ValueError: the newest file is not a JSON object with ``t2i/R1`` (file named).
    """
    found = sorted(
        p
        for p in glob.glob(osp.join(run_dir, '*', '*.json'))
        if osp.basename(p) == osp.basename(osp.dirname(p)) + '.json'
    )
    if not found:
        raise FileNotFoundError(
            f'{run_dir}: no test metrics (<timestamp>/<timestamp>.json); run '
            f'tools/test.py CONFIG CHECKPOINT --work-dir {run_dir}'
        )
    path = found[-1]  # timestamps (YYYYmmdd_HHMMSS) sort in time order
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f'{path}: unreadable test metrics ({err})') from err
    if not isinstance(data, dict) or JSON_KEYS['Rank-1'] not in data:
        raise ValueError(f'{path}: no {JSON_KEYS["Rank-1"]!r} in the test metrics')
    metrics = {m: float(data[k]) for m, k in JSON_KEYS.items() if k in data}
    return path, metrics


def _checkpoint(metrics_file: str) -> Optional[str]:
    """``load_from`` of the test run (its dumped config), when recorded."""
    from mmengine.config import Config

    cfg_path = osp.join(osp.dirname(metrics_file), 'vis_data', 'config.py')
    if not osp.isfile(cfg_path):
        return None
    try:
        load_from = Config.fromfile(cfg_path).get('load_from')
    except Exception:  # a config that no longer parses must not hide the metrics
        return None
    return osp.basename(load_from) if load_from else None


def collect_results(
    run_dirs: Iterable[str], models: Dict[str, ModelEntry]
) -> Tuple[List[RunResult], List[str]]:
    """Results of every run folder that has a test, and one message per folder skipped."""
    results, problems = [], []
    for run_dir in sorted(run_dirs):
        if not osp.isdir(run_dir):
            problems.append(f'{run_dir}: not a folder')
            continue
        try:
            name = run_config_stem(run_dir, models)
            path, metrics = latest_test_metrics(run_dir)
        except (ValueError, FileNotFoundError) as err:
            problems.append(str(err))
            continue
        results.append(RunResult(run_dir, name, metrics, path, _checkpoint(path)))
    return results, problems


def _cells(metrics: Dict[str, float]) -> str:
    return ' / '.join(f'{metrics[m]:.2f}' if m in metrics else '–' for m in METRICS)


def format_table(
    results: List[RunResult], models: Dict[str, ModelEntry], include_unrun: bool = False
) -> str:
    """Markdown model-zoo table: config, architecture, published and our numbers.

    Args:
        results (list[RunResult]): From :func:`collect_results`.
        models (dict): From :func:`~tpr_mm.utils.model_index.load_model_index`.
        include_unrun (bool): Also list every model-index config without a run.
    """
    head = [
        '| config | architecture | data | published R1 / R5 / R10 / mAP / mINP '
        '| ours R1 / R5 / R10 / mAP / mINP | run |',
        '|---|---|---|---|---|---|',
    ]
    rows = []
    seen = set()
    for res in results:
        entry = models[res.name]
        seen.add(res.name)
        run = f'`{res.run_dir}`' + (f' (`{res.checkpoint}`)' if res.checkpoint else '')
        rows.append((entry, _cells(res.metrics), run))
    if include_unrun:
        rows += [(e, '— not run', '') for n, e in models.items() if n not in seen]
    order = {n: i for i, n in enumerate(models)}
    rows.sort(key=lambda r: order[r[0].name])
    lines = []
    for entry, ours, run in rows:
        published = _cells(entry.published) if entry.published else '—'
        arch = f'{entry.kind}: ' + ', '.join(entry.architecture)
        lines.append(
            f'| `{osp.basename(entry.config)}` | {arch} | {entry.training_data} | {published} '
            f'| {ours} | {run} |'
        )
    return '\n'.join(head + lines)
