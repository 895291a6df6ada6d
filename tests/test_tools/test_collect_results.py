# Copyright (c) tpr_mm contributors. All rights reserved.
"""tools/analysis/collect_results.py on run folders written by the real tools/train.py + test.py."""

import json
import os
import re
import shutil
import sys

import pytest
from mmengine.config import Config
from tool_helpers import ROOT, load_tool

from tpr_mm.testing.configs import shrink_config
from tpr_mm.utils.model_index import load_model_index
from tpr_mm.utils.results_collector import RunResult, format_table

collect = load_tool('tools/analysis/collect_results.py')
INDEX = os.path.join(ROOT, 'model-index.yml')


def _tool(monkeypatch, relpath, *args):
    monkeypatch.setattr(sys, 'argv', [relpath, *args])
    load_tool(relpath).main()


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """work_dirs/ with one trained + tested run, one never tested, one of an unknown config."""
    base = tmp_path_factory.mktemp('collect')
    work_dirs = base / 'work_dirs'
    run = work_dirs / 'clip_sdm_synthetic'
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'clip_sdm_synthetic.py'))
    cfg = shrink_config(cfg, str(run), str(base / 'synthetic'), max_epochs=1)
    cfg_path = base / 'cfgs' / 'clip_sdm_synthetic.py'  # the stem names the model-index entry
    cfg_path.parent.mkdir()
    cfg.dump(str(cfg_path))
    with pytest.MonkeyPatch.context() as mp:
        _tool(mp, 'tools/train.py', str(cfg_path), '--work-dir', str(run))
        _tool(mp, 'tools/test.py', str(cfg_path), str(run / 'epoch_1.pth'), '--work-dir', str(run))
    untested = work_dirs / 'cpcl_synthetic'  # a run folder before tools/test.py
    untested.mkdir()
    shutil.copy(run / 'clip_sdm_synthetic.py', untested / 'cpcl_synthetic.py')
    stray = work_dirs / 'scratch'
    stray.mkdir()
    (stray / 'my_experiment.py').write_text('x = 1\n')
    return work_dirs


def test_table_from_real_run_folders(runs, monkeypatch, capsys):
    run = runs / 'clip_sdm_synthetic'
    stamps = sorted(d for d in os.listdir(run) if os.path.isfile(run / d / f'{d}.json'))
    assert len(stamps) == 1  # only the test run writes <timestamp>/<timestamp>.json
    with open(run / stamps[0] / f'{stamps[0]}.json') as f:
        written = json.load(f)
    code = collect.main([str(p) for p in sorted(runs.iterdir())] + ['--index', INDEX])
    out, err = capsys.readouterr()
    assert code == 0
    rows = [line for line in out.splitlines() if line.startswith('| `')]
    assert len(rows) == 1
    cells = [c.strip() for c in rows[0].strip('|').split('|')]
    assert cells[0] == '`clip_sdm_synthetic.py`'
    assert cells[1].startswith('adaptation: ') and cells[2] == 'Synthetic' and cells[3] == '—'
    ours = [float(v) for v in cells[4].split(' / ')]
    keys = ['t2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP', 't2i/mINP']
    assert ours == [round(written[k], 2) for k in keys]
    assert '(`epoch_1.pth`)' in cells[5]
    # The two other folders are named with the reason they were skipped.
    assert re.search(r'cpcl_synthetic: no test metrics', err)
    assert re.search(
        r"scratch: no dumped config of a model-index entry \(found \['my_experiment'\]", err
    )


def test_no_results_exit_code_and_all_listing(runs, capsys):
    assert collect.main([str(runs / 'scratch'), '--index', INDEX]) == 1
    assert collect.main([str(runs / 'scratch'), '--index', INDEX, '--all']) == 0
    out = capsys.readouterr().out
    models = load_model_index(INDEX)
    listed = re.findall(r'^\| `([\w.]+)\.py`', out, flags=re.M)
    assert listed == list(models)  # every model-index config, in index order


def test_published_cells_and_missing_metrics():
    models = load_model_index(INDEX)
    res = RunResult(
        'w/cfine_icfg', 'cfine_icfg', {'Rank-1': 61.0, 'Rank-5': 77.125}, 'x.json', None
    )
    row = format_table([res], models).splitlines()[-1]
    cells = [c.strip() for c in row.strip('|').split('|')]
    assert cells[1].startswith('adaptation: CLIP ViT-B/16, CLIP Text Transformer')
    assert cells[3] == '60.83 / 76.55 / 82.42 / – / –'  # the paper gives no mAP / mINP
    assert cells[4] == '61.00 / 77.12 / – / – / –'
