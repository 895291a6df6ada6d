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


def test_runner_env_cfg_without_dist_cfg_is_switched(monkeypatch):
    # TPRRunner.setup_env passes its env_cfg (a ConfigDict) with the launcher.
    from datetime import timedelta

    from mmengine.config import ConfigDict

    from tpr_mm.engine.runner.dist_backend import cpu_process_group_kwargs

    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    env_cfg = ConfigDict(cudnn_benchmark=False)
    assert use_gloo_without_cuda(dict(launcher='slurm', env_cfg=env_cfg))
    assert env_cfg.dist_cfg.backend == 'gloo'
    env_cfg = ConfigDict(dist_cfg=dict(backend='nccl', timeout=60))
    use_gloo_without_cuda(dict(launcher='pytorch', env_cfg=env_cfg))
    kwargs = cpu_process_group_kwargs('pytorch', env_cfg)
    assert kwargs == dict(backend='gloo', timeout=timedelta(seconds=60))
    assert cpu_process_group_kwargs('slurm', env_cfg) is None  # MMEngine's own start-up
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    assert cpu_process_group_kwargs('pytorch', env_cfg) is None


def test_one_place_names_the_backends():
    """Only dist_backend.py spells out a backend name in the package and the tools."""
    import os
    import re

    from tpr_mm.engine.runner.dist_backend import backend_for_device

    assert backend_for_device('cuda') == 'nccl' and backend_for_device('cpu') == 'gloo'
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    named = []
    for folder in ('tpr_mm', 'tools'):
        for dirpath, _, files in os.walk(os.path.join(root, folder)):
            for name in files:
                if name.endswith(('.py', '.sh')):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding='utf-8') as f:
                        if re.search(r"""['"]gloo['"]""", f.read()):
                            named.append(os.path.relpath(path, root))
    assert named == [os.path.join('tpr_mm', 'engine', 'runner', 'dist_backend.py')]
