# Copyright (c) tpr_mm contributors. All rights reserved.
"""LCR²S end to end: teacher -> frozen-teacher student -> test without the teacher."""

import json
import os
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from tpr_mm.engine.runner.checkpoint import resolve_checkpoint
from tpr_mm.engine.runner.safe_loading import mmengine_safe_globals
from tpr_mm.registry import MODELS, RUNNERS
from tpr_mm.testing.configs import shrink_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tiny(name, work_dir, data_root, max_epochs=1):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', name))
    cfg = shrink_config(cfg, work_dir, data_root, max_epochs=max_epochs)
    # 4 identities x 6 pairs: 3 iterations per epoch, supports still from several views.
    cfg.train_dataloader.dataset.dataset.indices = 24
    if cfg.model.get('teacher') is not None:
        cfg.model.teacher.backbone = cfg.model.backbone.copy()
    return cfg


def _state(path):
    with mmengine_safe_globals():
        return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


def _run(args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable] + args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp('lcr2s_data') / 'synthetic')


def test_identity_sampler_config_gives_in_batch_supports(data_root, tmp_path):
    init_default_scope('tpr_mm')
    cfg = _tiny('lcr2s_teacher_synthetic_pk.py', str(tmp_path), data_root)
    cfg.train_dataloader.sampler.num_instances = 4  # batch of 8 = 2 identities x 4 pairs
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    batch = next(iter(loader))
    samples = batch['data_samples']
    pids = [s.pid for s in samples]
    assert len(pids) == 8 and len(set(pids)) == 2 and pids[:4] == [pids[0]] * 4
    assert len({s.image_id for s in samples[:4]}) == 3  # every image of the identity
    assert 'support_img' not in batch['inputs']
    model = MODELS.build(cfg.model)
    data = model.data_preprocessor(batch, True)
    enc = model.encode_with_support(data['inputs'], data['data_samples'])
    assert enc['img_support_mask'].sum(1).tolist() == [2] * 8
    assert enc['text_support_mask'].sum(1).tolist() == [3] * 8
    assert torch.isfinite(model(**data, mode='loss')['loss_sdm'])


@pytest.fixture(scope='module')
def trained(tmp_path_factory, data_root):
    base = tmp_path_factory.mktemp('lcr2s')
    data = data_root
    cfg = _tiny('lcr2s_teacher_synthetic.py', str(base / 'teacher'), data)
    cfg.experiment_name = 'lcr2s_e2e_teacher'
    RUNNERS.build(cfg).train()
    teacher_ckpt = resolve_checkpoint(str(base / 'teacher'))

    cfg = _tiny('lcr2s_student_synthetic.py', str(base / 'student'), data)
    cfg.model.teacher_checkpoint = str(base / 'teacher')
    cfg.experiment_name = 'lcr2s_e2e_student'
    runner = RUNNERS.build(cfg)
    initial = {k: v.clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    return {
        'base': base,
        'data': data,
        'cfg': cfg,
        'runner': runner,
        'teacher_ckpt': teacher_ckpt,
        'initial': initial,
    }


def test_teacher_unchanged_and_unsaved_by_student_training(trained):
    runner = trained['runner']
    teacher = runner.model.teacher
    assert teacher is not None and not teacher.training  # after runner's model.train() calls
    assert all(not p.requires_grad for p in teacher.parameters())
    saved = _state(trained['teacher_ckpt'])
    for key, value in teacher.state_dict().items():
        assert torch.equal(value.cpu(), saved[key]), key
    student_ckpt = _state(resolve_checkpoint(str(trained['base'] / 'student'), prefer='last'))
    assert not any('teacher' in k for k in student_ckpt)
    assert set(student_ckpt) == set(trained['initial'])
    changed = [k for k, v in student_ckpt.items() if not torch.equal(v, trained['initial'][k])]
    assert any(k.startswith('img_reasoning') for k in changed)
    assert any(k.startswith('backbone') for k in changed)
    logged = runner.message_hub.log_scalars
    assert 'train/loss_feat_kd' in logged and 'train/loss_rel_kd' in logged


@pytest.mark.slow
def test_test_tool_runs_student_without_teacher(trained):
    base = trained['base']
    cfg = trained['cfg'].copy()
    cfg.model.teacher_checkpoint = str(base / 'no_such_teacher.pth')
    cfg.log_level = 'INFO'
    cfg_path = str(base / 'student_test.py')
    cfg.dump(cfg_path)
    ckpt = resolve_checkpoint(str(base / 'student'))
    out = _run(
        [
            os.path.join(ROOT, 'tools', 'test.py'),
            cfg_path,
            ckpt,
            '--work-dir',
            str(base / 'student_test'),
        ]
    )
    assert 't2i/mAP' in out
    assert 'frozen teacher' not in out


@pytest.mark.slow
def test_train_two_stage_tool(trained, tmp_path):
    data = trained['data']
    paths = []
    for name in ('lcr2s_teacher_synthetic.py', 'lcr2s_student_synthetic.py'):
        cfg = _tiny(name, str(tmp_path / 'unused'), data)
        paths.append(str(tmp_path / name))
        cfg.dump(paths[-1])
    out = _run(
        [
            os.path.join(ROOT, 'tools', 'train_two_stage.py'),
            *paths,
            '--teacher-work-dir',
            str(tmp_path / 't'),
            '--student-work-dir',
            str(tmp_path / 's'),
            '--cfg-options',
            'train_cfg.max_epochs=1',
        ]
    )
    summary = json.loads((tmp_path / 's' / 'two_stage.json').read_text())
    assert os.path.basename(summary['teacher_checkpoint']).startswith('best_t2i_R1')
    assert os.path.dirname(summary['teacher_checkpoint']) == str(tmp_path / 't')
    assert 'distilling from teacher checkpoint' in out
    assert os.path.isfile(tmp_path / 's' / 'epoch_1.pth')
