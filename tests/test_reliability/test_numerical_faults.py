# Copyright (c) tpr_mm contributors. All rights reserved.
"""NaN/inf losses stop training cleanly; --amp runs in bfloat16 on CPU or says why not."""

import argparse
import glob
import hashlib
import importlib.util
import os
from types import SimpleNamespace

import pytest
import torch
from mmengine.hooks import Hook

import tpr_mm.engine.optim_wrappers.cpu_amp as cpu_amp
import tpr_mm.testing.faults  # noqa: F401  (registers NaNAtCallLoss)
from tpr_mm.engine.hooks import FiniteLossHook, NonFiniteLossError
from tpr_mm.registry import RUNNERS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


class _Fingerprint(Hook):
    """Hash the checkpoint files right after each epoch's save."""

    priority = 'LOWEST'  # after the checkpoint hook

    def __init__(self):
        self.seen = {}

    def after_train_epoch(self, runner):
        for path in glob.glob(os.path.join(runner.work_dir, '*.pth')):
            self.seen[os.path.basename(path)] = _sha(path)
        self.seen['last_checkpoint'] = _sha(os.path.join(runner.work_dir, 'last_checkpoint'))


def test_nan_loss_stops_with_term_and_iteration_and_keeps_checkpoint(tiny_cfg, tmp_path):
    work = tmp_path / 'work'
    cfg = tiny_cfg(work, max_epochs=2)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None  # epoch checkpoints only
    cfg.default_hooks.checkpoint.save_best = None
    # 6 iterations per epoch: the 9th call is epoch 2, batch 3.
    cfg.model.head.losses.append(dict(type='NaNAtCallLoss', at_call=9))
    runner = RUNNERS.build(cfg)
    fingerprint = _Fingerprint()
    runner.register_hook(fingerprint)
    with pytest.raises(NonFiniteLossError) as err:
        runner.train()
    message = str(err.value)
    assert 'loss_nan_probe=nan' in message
    assert 'iteration 9 ' in message and 'epoch 2' in message
    files = sorted(os.listdir(work))
    assert 'epoch_1.pth' in files and 'epoch_2.pth' not in files
    assert not [f for f in files if f.endswith('.tmp')]
    assert fingerprint.seen['epoch_1.pth'] == _sha(work / 'epoch_1.pth')
    assert fingerprint.seen['last_checkpoint'] == _sha(work / 'last_checkpoint')
    with open(work / 'last_checkpoint') as f:
        assert f.read().endswith('epoch_1.pth')


@pytest.mark.parametrize('value', [float('inf'), float('-inf'), float('nan')])
def test_finite_loss_hook_names_every_bad_term(value):
    runner = SimpleNamespace(iter=41, epoch=3)
    outputs = dict(
        loss=torch.tensor(value),
        loss_sdm=torch.tensor(1.0),
        loss_bad=torch.tensor(value),
        grad_norm=torch.tensor(value),
    )
    with pytest.raises(NonFiniteLossError, match=r'iteration 42 \(epoch 4') as err:
        FiniteLossHook().after_train_iter(runner, 7, outputs=outputs)
    assert f'loss_bad={value}' in str(err.value) and 'loss_sdm' not in str(err.value)
    FiniteLossHook().after_train_iter(runner, 7, outputs=dict(loss=torch.tensor(2.0)))


def _train_tool():
    spec = importlib.util.spec_from_file_location(
        'tpr_train_tool', os.path.join(ROOT, 'tools', 'train.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _amp_args(cfg_path, work):
    return argparse.Namespace(
        config=cfg_path,
        work_dir=str(work),
        resume=None,
        amp=True,
        cfg_options=None,
        launcher='none',
        local_rank=0,
    )


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU path')
@pytest.mark.skipif(not cpu_amp.cpu_bf16_autocast_available(), reason='no CPU bf16 autocast')
def test_amp_trains_in_bfloat16_on_cpu(tiny_cfg, tmp_path):
    cfg = tiny_cfg(tmp_path / 'work', max_epochs=1)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.save_best = None
    cfg.dump(str(tmp_path / 'tiny.py'))
    cfg = _train_tool().build_cfg(_amp_args(str(tmp_path / 'tiny.py'), tmp_path / 'work'))
    assert cfg.optim_wrapper.type == 'CPUBF16AmpOptimWrapper'
    runner = RUNNERS.build(cfg)
    dtypes = set()
    for module in runner.model.modules():
        if isinstance(module, torch.nn.Linear):
            module.register_forward_hook(lambda mod, inp, out: dtypes.add(out.dtype))
    runner.train()
    assert torch.bfloat16 in dtypes
    assert all(p.dtype == torch.float32 for p in runner.model.parameters())
    assert os.path.isfile(tmp_path / 'work' / 'epoch_1.pth')


def test_amp_unavailable_is_said_clearly(monkeypatch):
    monkeypatch.setattr(cpu_amp, 'cpu_bf16_autocast_available', lambda: False)
    with pytest.raises(RuntimeError, match='--amp: CPU bfloat16 autocast is unavailable'):
        cpu_amp.CPUBF16AmpOptimWrapper(optimizer=torch.optim.SGD([torch.zeros(1)], lr=0.1))
