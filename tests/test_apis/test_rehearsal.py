# Copyright (c) tpr_mm contributors. All rights reserved.
"""The rehearsal runs a config end to end and reports every phase."""

import json
import os

import pytest
from mmengine.config import Config

from tpr_mm.apis.epoch_projection import projected_epoch_seconds
from tpr_mm.apis.rehearsal import format_table, rehearsal_config, run_rehearsal
from tpr_mm.apis.step_timing import time_train_steps
from tpr_mm.testing.configs import TINY_CLUSTER_CFG, shrink_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_rehearsal_config_shrinks_only_the_backbone(tmp_path):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'cpcl_cuhk.py'))
    r = rehearsal_config(cfg, str(tmp_path / 'data'), str(tmp_path / 'work'))
    bb = r.model.backbone
    assert bb.pretrained is None and bb.model_cfg['vision_cfg']['layers'] == 1
    assert bb.model_cfg['vision_cfg']['image_size'] == (384, 128)
    assert r.model.head == cfg.model.head  # heads, losses as shipped
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert r[key].dataset.data_root == str(tmp_path / 'data')
        assert r[key].dataset.pipeline == cfg[key].dataset.pipeline
        assert r[key].batch_size == cfg[key].batch_size
        assert r[key].num_workers == cfg[key].num_workers
    assert r.train_cfg.max_epochs == 1
    assert [h.type for h in r.custom_hooks][:-1] == [h.type for h in cfg.custom_hooks]
    assert r.custom_hooks[-1].type == 'RehearsalHook'
    assert projected_epoch_seconds(1e9, 1000, 1.0) == 3.0


def test_rehearsal_config_swaps_only_the_bert_vocabulary(tmp_path):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'cfine_bert_published_cuhk.py'))
    vocab = str(tmp_path / 'vocab.txt')
    r = rehearsal_config(cfg, str(tmp_path / 'data'), str(tmp_path / 'work'), bert_vocab=vocab)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        shipped, rehearsed = cfg[key].dataset.pipeline, r[key].dataset.pipeline
        assert len(shipped) == len(rehearsed)
        for a, b in zip(shipped, rehearsed):
            if a['type'] == 'BertTokenizeCaption':
                assert b['vocab'] == vocab and a['vocab'] != vocab
                assert {k: v for k, v in a.items() if k != 'vocab'} == {
                    k: v for k, v in b.items() if k != 'vocab'
                }
            else:
                assert a == b
    assert r.model.text_backbone.config['num_hidden_layers'] == 1


def test_tiny_rehearsal_reports_every_phase(tmp_path):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'cpcl_synthetic.py'))
    data_root = str(tmp_path / 'synthetic')
    cfg = shrink_config(cfg, str(tmp_path / 'w0'), data_root, max_epochs=1)
    hook = next(h for h in cfg.custom_hooks if h.type == 'PseudoLabelHook')
    hook.update(cluster_cfg=dict(TINY_CLUSTER_CFG), progress=False)
    path = str(tmp_path / 'tiny_cpcl.py')
    cfg.dump(path)
    work = str(tmp_path / 'work')
    result = run_rehearsal(path, data_root, work, device_tflops=100.0)
    names = [row['phase'] for row in result['phases']]
    assert names[0].startswith('before_train_epoch') and names[1:] == ['train_epoch', 'val', 'test']
    n_train = 60
    for row in result['phases']:
        assert row['wall_s'] >= 0 and row['peak_rss_gib'] > 0.05 and row['items'] > 0
    assert result['phases'][1]['items'] == n_train
    proj = result['projection']
    assert proj['forward_flops_per_sample'] > 1e5 and proj['train_samples'] == n_train
    assert proj['projected_gpu_epoch_s'] == round(
        3 * proj['forward_flops_per_sample'] * n_train / 100e12, 1
    )
    with open(os.path.join(work, 'rehearsal.json')) as f:
        assert json.load(f)['phases'] == result['phases']
    assert 'PROJECTION (not measured)' in format_table(result)


def test_step_timing_runs_the_heads_as_shipped(tmp_path):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'cpcl_synthetic.py'))
    data_root = str(tmp_path / 'synthetic')
    cfg = shrink_config(cfg, str(tmp_path / 'w0'), data_root, max_epochs=1)
    path = str(tmp_path / 'tiny_cpcl.py')
    cfg.dump(path)
    timing = time_train_steps(path, data_root, steps=2)
    assert timing['step_cpu_s'] > 0 and timing['step_wall_s'] > 0
    batch = cfg.train_dataloader.batch_size
    assert timing['batch_size'] == batch
    assert timing['iters_per_epoch'] == -(-60 // batch)  # 60 pairs, DefaultSampler keeps the tail
    # the estimate is the unrounded step time x iterations; step_cpu_s is rounded to 1 ms
    estimate = timing['step_cpu_s'] * timing['iters_per_epoch']
    assert (
        abs(timing['epoch_cpu_s_estimate'] - estimate) <= 0.0005 * timing['iters_per_epoch'] + 0.05
    )
    with pytest.raises(ValueError, match='steps'):
        time_train_steps(path, data_root, steps=0)


@pytest.mark.parametrize('name', ['cfine_cuhk.py', 'cfine_bert_published_cuhk.py'])
def test_rehearsal_model_keeps_the_widths_its_neck_reads(tmp_path, name):
    """The published CFine reads the vision tower's unprojected 768-d tokens and
    BERT's hidden states: the shrunk towers keep those widths (one layer each),
    so the shipped neck and heads run on them."""
    import torch
    from mmengine.registry import DefaultScope

    from tpr_mm.registry import MODELS

    cfg = Config.fromfile(os.path.join(ROOT, 'configs', name))
    r = rehearsal_config(cfg, str(tmp_path / 'data'), str(tmp_path / 'work'))
    assert r.model.neck == cfg.model.neck and r.model.head == cfg.model.head
    with DefaultScope.overwrite_default_scope('tpr_mm'):
        model = MODELS.build(r.model).eval()
    h, w = cfg.train_pipeline[1]['scale'][::-1] if 'bert' in name else (384, 128)
    with torch.no_grad():
        img = model.extract_img_feat(torch.randn(2, 3, h, w))
        text = model.extract_text_feat(torch.randint(1, 999, (2, 12)))
    assert img.shape == text.shape and torch.isfinite(img).all() and torch.isfinite(text).all()
    vision = r.model.image_backbone.model_cfg['vision_cfg']
    assert vision['layers'] == 1
    assert vision['width'] == (768 if 'bert' in name else 64)
    if 'bert' in name:
        assert r.model.text_backbone.config['hidden_size'] == 768


@pytest.mark.slow  # two launches of the rehearsal tool
def test_rehearsal_killed_mid_epoch_resumes_from_its_checkpoint(tmp_path):
    """SIGKILL after iteration 5 with checkpoints every 3: ``--resume`` trains
    batches 3..7 only, and the table adds the two segments' training time."""
    import signal
    import subprocess
    import sys

    from tpr_mm.testing.faults import KILL_AT_ITER_ENV

    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'clip_sdm_synthetic.py'))
    data_root = str(tmp_path / 'synthetic')
    cfg = shrink_config(cfg, str(tmp_path / 'w0'), data_root, max_epochs=1)
    cfg.custom_imports = dict(imports=['tpr_mm.testing.faults'], allow_failed_imports=False)
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='SigKillAtIterHook')]
    path = str(tmp_path / 'tiny_sdm.py')
    cfg.dump(path)
    work = str(tmp_path / 'work')
    args = [sys.executable, os.path.join(ROOT, 'tools', 'analysis', 'rehearse.py'), path]
    args += ['--data-root', data_root, '--work-dir', work, '--checkpoint-interval', '3']
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')

    def run(extra, **more_env):
        return subprocess.run(
            args + extra, cwd=ROOT, env=dict(env, **more_env), capture_output=True, text=True
        )

    killed = run([], **{KILL_AT_ITER_ENV: '5'})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    with open(os.path.join(work, 'last_checkpoint')) as f:
        assert f.read().endswith('iter_3.pth')
    resumed = run(['--resume'])
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    with open(os.path.join(work, 'rehearsal.json')) as f:
        phases = json.load(f)['phases']
    names = [row['phase'] for row in phases]
    assert names == [
        'before_train_epoch (hooks, e.g. clustering)',
        'resume: hooks + skipping 3 trained batches',
        'train_epoch',
        'val',
        'test',
    ]
    train = phases[2]
    iters = -(-60 // cfg.train_dataloader.batch_size)
    segments = train['segments']
    assert [(s['first_batch'], s['end_batch']) for s in segments] == [(0, 3), (3, iters)]
    assert abs(train['wall_s'] - sum(s['wall_s'] for s in segments)) <= 0.15
    assert os.path.isfile(os.path.join(work, f'iter_{iters}.pth'))
    assert not os.path.exists(os.path.join(work, f'iter_{iters + 3}.pth'))
