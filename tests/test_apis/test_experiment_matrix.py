# Copyright (c) tpr_mm contributors. All rights reserved.
"""The configs × seeds runner: planning, resumable execution, report."""

import json
import os
import os.path as osp
import subprocess
import sys

import pytest
from mmengine.config import Config

from tpr_mm.apis.experiment_matrix import (
    RESULT_FILE,
    matrix_markdown,
    plan_runs,
    read_test_metrics,
    run_matrix,
    select_checkpoint,
    write_report,
)
from tpr_mm.evaluation.functional.stats import summarize_runs
from tpr_mm.testing.configs import shrink_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _configs(tmp_path, names):
    paths = []
    for n in names:
        p = tmp_path / f'{n}.py'
        p.write_text('x = 1\n')
        paths.append(str(p))
    return paths


def test_plan_is_every_config_seed_pair_in_its_own_folder(tmp_path):
    a, b = _configs(tmp_path, ['a', 'b'])
    runs = plan_runs([a, b], [0, 1, 2], str(tmp_path / 'out'))
    assert [(r.name, r.seed) for r in runs] == [(n, s) for n in 'ab' for s in (0, 1, 2)]
    assert len({r.work_dir for r in runs}) == 6
    with pytest.raises(FileNotFoundError, match='missing.py'):
        plan_runs([str(tmp_path / 'missing.py')], [0], str(tmp_path))
    (tmp_path / 'sub').mkdir()
    (tmp_path / 'sub' / 'a.py').write_text('x = 1\n')
    with pytest.raises(ValueError, match="share the name 'a'"):
        plan_runs([a, str(tmp_path / 'sub' / 'a.py')], [0], str(tmp_path))


def test_run_matrix_skips_finished_cells_and_report_pairs_seeds(tmp_path):
    a, b = _configs(tmp_path, ['base', 'new'])
    runs = plan_runs([a, b], [0, 1, 2], str(tmp_path / 'out'))
    calls = []

    def fake_execute(run):
        path = osp.join(run.work_dir, RESULT_FILE)
        if osp.isfile(path):
            with open(path) as f:
                return json.load(f)
        calls.append((run.name, run.seed))
        r1 = 20.0 + run.seed + (2.0 if run.name == 'new' else 0.0)
        res = dict(metrics=dict(R1=r1, R5=50.0, R10=60.0, mAP=r1 / 2, mINP=5.0 + run.seed))
        os.makedirs(run.work_dir, exist_ok=True)
        with open(path, 'w') as f:
            json.dump(res, f)
        return res

    results = run_matrix(runs, execute=fake_execute)
    assert len(calls) == 6
    again = run_matrix(runs, execute=fake_execute)
    assert len(calls) == 6 and again == results  # nothing re-run
    paths = write_report(results, str(tmp_path / 'report'), baseline='base')
    with open(paths['json']) as f:
        data = json.load(f)
    diff = data['summary']['new']['vs_baseline']['R1']
    assert diff['mean'] == pytest.approx(2.0) and diff['half_width'] == pytest.approx(0.0)
    assert diff['excludes_zero'] is True
    md = open(paths['md']).read()
    new_row = [line for line in md.splitlines() if line.startswith('| new |')][-1]
    assert new_row.startswith('| new | 2.00 ± 0.00 * |')
    assert os.path.getsize(paths['png']) > 1000


def test_markdown_marks_only_intervals_that_exclude_zero():
    runs = {
        'base': {
            0: dict(R1=10, R5=1, R10=1, mAP=1, mINP=1),
            1: dict(R1=12, R5=1, R10=1, mAP=1, mINP=1),
        },
        'new': {
            0: dict(R1=11, R5=1, R10=1, mAP=1, mINP=1),
            1: dict(R1=11, R5=1, R10=1, mAP=1, mINP=1),
        },
    }
    summary = summarize_runs(runs, ['R1', 'R5', 'R10', 'mAP', 'mINP'], baseline='base')
    md = matrix_markdown(summary, 'base')
    new_row = [line for line in md.splitlines() if line.startswith('| new |')][-1]
    assert '*' not in new_row  # R1 diffs +1 and -1: interval spans zero


def test_checkpoint_selection_never_uses_test(tmp_path):
    with pytest.raises(FileNotFoundError, match='no best'):
        select_checkpoint(str(tmp_path))
    last = tmp_path / 'epoch_3.pth'
    last.write_bytes(b'x')
    (tmp_path / 'last_checkpoint').write_text(str(last))
    assert select_checkpoint(str(tmp_path)) == str(last)
    best = tmp_path / 'best_t2i_R1_epoch_2.pth'
    best.write_bytes(b'x')
    assert select_checkpoint(str(tmp_path)) == str(best)


def test_read_test_metrics_takes_the_newest_test_log(tmp_path):
    for stamp, r1 in (('20260101_000000', 1.0), ('20260102_000000', 2.0)):
        (tmp_path / stamp).mkdir()
        (tmp_path / stamp / f'{stamp}.json').write_text(json.dumps({'t2i/R1': r1, 'time': 1}))
    (tmp_path / '20260103_000000').mkdir()  # a training run: no test JSON
    assert read_test_metrics(str(tmp_path)) == {'R1': 2.0}
    with pytest.raises(FileNotFoundError, match='no test-metric JSON'):
        read_test_metrics(str(tmp_path / '20260103_000000'))


@pytest.mark.slow
def test_tool_runs_a_real_cell_then_skips_it(tmp_path):
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'clip_sdm_synthetic.py'))
    cfg = shrink_config(cfg, str(tmp_path / 'unused'), str(tmp_path / 'synthetic'), max_epochs=1)
    cfg_path = str(tmp_path / 'tiny_sdm.py')
    cfg.dump(cfg_path)
    out = str(tmp_path / 'matrix')
    cmd = [
        sys.executable,
        osp.join(ROOT, 'tools', 'analysis', 'run_matrix.py'),
        cfg_path,
        '--seeds',
        '3',
        '--out-dir',
        out,
    ]
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    cell = osp.join(out, 'tiny_sdm', 'seed3')
    with open(osp.join(cell, RESULT_FILE)) as f:
        result = json.load(f)
    assert result['seed'] == 3 and result['checkpoint'].startswith('best_')
    assert 0.0 <= result['metrics']['R1'] <= 100.0
    with open(osp.join(out, 'matrix.md')) as f:
        assert '| tiny_sdm | 1 |' in f.read()
    # The dumped config of the training run carries the seed.
    dumped = [p for p in os.listdir(cell) if p.endswith('.py')]
    assert dumped and 'seed=3' in open(osp.join(cell, dumped[0])).read().replace(' ', '')
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and 'already done' in proc.stdout + proc.stderr
