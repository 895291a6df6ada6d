# Copyright (c) tpr_mm contributors. All rights reserved.
"""End to end: train -> checkpoint -> resume -> test through the real tools."""

import json
import os
import subprocess
import sys

import pytest
from mmengine.config import Config

from tpr_mm.registry import RUNNERS
from tpr_mm.testing.configs import shrink_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run(args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable] + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """Train the synthetic baseline for 2 epochs with tools/train.py."""
    base = tmp_path_factory.mktemp('e2e')
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'clip_sdm_synthetic.py'))
    cfg = shrink_config(cfg, str(base / 'work'), str(base / 'synthetic'), max_epochs=2)
    cfg_path = str(base / 'tiny.py')
    cfg.dump(cfg_path)
    work = str(base / 'work')
    _run([os.path.join(ROOT, 'tools', 'train.py'), cfg_path, '--work-dir', work])
    return cfg, cfg_path, work, base


def test_train_writes_epoch_and_best_checkpoints(trained):
    _, _, work, _ = trained
    files = os.listdir(work)
    assert 'epoch_2.pth' in files
    assert len([f for f in files if f.startswith('best_t2i_R1')]) == 1, files


def test_resume_continues_from_last_checkpoint(trained):
    _, cfg_path, work, _ = trained
    proc = _run(
        [
            os.path.join(ROOT, 'tools', 'train.py'),
            cfg_path,
            '--work-dir',
            work,
            '--resume',
            '--cfg-options',
            'train_cfg.max_epochs=3',
            'log_level=INFO',
        ]
    )
    assert 'resumed epoch: 2' in (proc.stdout + proc.stderr).lower()
    assert os.path.isfile(os.path.join(work, 'epoch_3.pth'))


def test_test_tool_reports_metrics_and_writes_rankings(trained):
    _, cfg_path, work, base = trained
    out = str(base / 'rankings.json')
    proc = _run(
        [
            os.path.join(ROOT, 'tools', 'test.py'),
            cfg_path,
            os.path.join(work, 'epoch_2.pth'),
            '--work-dir',
            str(base / 'test'),
            '--out',
            out,
        ]
    )
    assert 't2i/R1' in proc.stdout + proc.stderr
    with open(out) as f:
        rankings = json.load(f)
    assert len(rankings) == 4 * 3 * 2  # test ids x images x captions
    assert len(rankings[0]['results']) == 10
    assert {'img_path', 'pid', 'score'} <= set(rankings[0]['results'][0])


def test_in_process_test_is_reproducible(trained, tmp_path):
    cfg, _, work, _ = trained
    results = []
    for i in range(2):
        run_cfg = cfg.copy()
        run_cfg.work_dir = str(tmp_path / f'w{i}')
        run_cfg.load_from = os.path.join(work, 'epoch_2.pth')
        run_cfg.train_dataloader = None
        run_cfg.train_cfg = None
        run_cfg.optim_wrapper = None
        run_cfg.param_scheduler = None
        run_cfg.experiment_name = f'reproduce_{i}'
        results.append(RUNNERS.build(run_cfg).test())
    assert results[0] == results[1]
    assert set(results[0]) == {'t2i/R1', 't2i/R5', 't2i/R10', 't2i/mAP', 't2i/mINP'}
