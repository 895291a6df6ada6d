# Copyright (c) tpr_mm contributors. All rights reserved.
"""benchmarks/bench_metric.py at a tiny size: it runs and reports every figure."""

import importlib.util
import os
import os.path as osp
import re
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCRIPT = osp.join(ROOT, 'benchmarks', 'bench_metric.py')


def _load():
    spec = importlib.util.spec_from_file_location('bench_metric_under_test', SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_synthetic_features_give_realistic_metrics():
    from tpr_mm.evaluation.functional import rank_metrics_from_features

    qf, gf, q_ids, g_ids = _load().make_features(400, 300, 64, 60, 20.0, 10.0, seed=1)
    assert qf.shape == (400, 64) and gf.shape == (300, 64)
    assert set(q_ids.tolist()) <= set(g_ids.tolist())
    metrics = rank_metrics_from_features(qf, gf, q_ids, g_ids)
    assert 5 < metrics['R1'] < 95 and 5 < metrics['mAP'] < 95


def test_tiny_run_prints_table_and_ratios():
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run(
        [sys.executable, SCRIPT, '--size', 'tiny', '--repeat', '2'],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for name in ('matmul', 'mm_chunk', 'naive', 'ours_sim', 'ours_feat'):
        assert re.search(rf'^{name}\s+\d+\.\d+\s+-?\d+\.\d', out, re.M), out
    assert re.search(r'naive/ours_sim: time [\d.]+x, peak memory [-\d.]+x', out)
    assert re.search(r'naive/ours_feat: time [\d.]+x, peak memory [-\d.]+x', out)
    assert re.search(r'ours_feat/matmul: time [\d.]+x', out)
    assert re.search(r'ours_feat/mm_chunk: time [\d.]+x', out)
    # exact: same metrics as the full-sort reference
    diff = re.search(r'max \|ours_sim - naive\|: (.*)', out).group(1)
    assert all(float(v) == 0 for v in re.findall(r'\w+ ([\d.e+-]+)', diff)), diff
