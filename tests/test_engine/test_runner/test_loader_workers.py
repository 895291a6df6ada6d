# Copyright (c) tpr_mm contributors. All rights reserved.
"""Persistent DataLoader workers stop when a run returns, not when the garbage collector
frees the runner (a reference cycle: its collection joined each worker for 5 s)."""

import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from torch.utils.data import DataLoader, Dataset

from tpr_mm.engine.runner import TPRRunner
from tpr_mm.engine.runner.loader_workers import shut_down_workers, track_persistent_workers


class _Items(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return dict(inputs=torch.full((2,), float(i)))


class _Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='tensor'):
        out = self.w(torch.stack(inputs))
        return {'loss': out.pow(2).mean()} if mode == 'loss' else out


class _WorkerSpy(Hook):
    """The train loader's worker processes, as seen during training."""

    def __init__(self):
        self.workers = []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if not self.workers:
            self.workers = list(runner.train_dataloader._iterator._workers)


def _runner(tmp_path, persistent=True) -> TPRRunner:
    loader = dict(
        dataset=_Items(),
        sampler=dict(type='DefaultSampler', shuffle=False),
        batch_size=4,
        num_workers=2,
        persistent_workers=persistent,
    )
    return TPRRunner(
        model=_Toy(),
        work_dir=str(tmp_path),
        train_dataloader=loader,
        train_cfg=dict(by_epoch=True, max_epochs=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(checkpoint=None, logger=None),
        default_scope='tpr_mm',
        experiment_name=f'loader-workers-{osp.basename(str(tmp_path))}',
    )


def test_train_returns_with_the_persistent_workers_stopped(tmp_path):
    runner = _runner(tmp_path)
    spy = _WorkerSpy()
    runner.register_hook(spy)
    runner.train()
    assert len(spy.workers) == 2
    assert not any(w.is_alive() for w in spy.workers)  # stopped, with no garbage collection
    loader = runner.train_dataloader
    assert sum(b['inputs'][0][0].item() for b in loader) == 0 + 4  # iterates again: new workers
    assert shut_down_workers(loader)  # and those stop on request too


def test_shut_down_workers_matches_a_fresh_loader(tmp_path):
    """Naive statement: a loader whose workers were stopped yields what a new loader yields."""
    loader = track_persistent_workers(
        DataLoader(_Items(), batch_size=3, num_workers=2, persistent_workers=True)
    )
    first = [b['inputs'] for b in loader]
    workers = list(loader._iterator._workers)
    assert shut_down_workers(loader) and loader._iterator is None
    assert not any(w.is_alive() for w in workers)
    assert not shut_down_workers(loader)  # nothing left to stop
    again = [b['inputs'] for b in loader]
    fresh = [b['inputs'] for b in DataLoader(_Items(), batch_size=3, num_workers=0)]
    assert all(torch.equal(a, b) for a, b in zip(first, fresh)) and len(first) == len(fresh)
    assert all(torch.equal(a, b) for a, b in zip(again, fresh))
    shut_down_workers(loader)
