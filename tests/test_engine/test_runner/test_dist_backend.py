# Copyright (c) tpr_mm contributors. All rights reserved.
import pytest
import torch
from mmengine.config import Config

from tpr_mm.engine.runner import use_gloo_without_cuda


@pytest.mark.parametrize(
    'launcher, cuda, backend, want',
    [
        ('pytorch', False, 'nccl', 'gloo'),  # the case it exists for
        ('pytorch', False, None, 'gloo'),  # MMEngine's default is nccl
        ('pytorch', True, 'nccl', 'nccl'),  # GPUs present: untouched
        ('none', False, 'nccl', 'nccl'),  # not distributed: untouched
        ('pytorch', False, 'mpi', 'mpi'),  # an explicit choice is kept
    ],
)
def test_backend_switches_only_for_nccl_without_cuda(monkeypatch, launcher, cuda, backend, want):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    dist_cfg = {} if backend is None else dict(backend=backend)
    cfg = Config(dict(launcher=launcher, env_cfg=dict(dist_cfg=dist_cfg)))
    switched = use_gloo_without_cuda(cfg)
    assert switched == (want == 'gloo')
    assert cfg.env_cfg.dist_cfg.get('backend', 'nccl') == want
