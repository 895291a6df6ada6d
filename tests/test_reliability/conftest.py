# Copyright (c) tpr_mm contributors. All rights reserved.
"""Shared fixtures of the reliability tests: a tiny synthetic set and configs."""

import itertools
import os
import subprocess
import sys

import pytest
from gloo_spawn import free_port
from mmengine.config import Config

from tpr_mm.datasets.synthetic import generate_synthetic_pedes
from tpr_mm.testing.configs import TINY_CLUSTER_CFG, shrink_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# 8 train ids -> 48 pairs = 6 iterations of 8 per epoch; the val/test gallery
# has 9 images (odd, so 2-process evaluation pads it with a duplicate).
TINY = dict(
    num_train_ids=8,
    num_val_ids=3,
    num_test_ids=3,
    images_per_id=3,
    captions_per_image=2,
    image_size=(64, 24),
    seed=0,
)


@pytest.fixture(scope='session')
def tiny_data(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('reliability') / 'synthetic')
    generate_synthetic_pedes(root, **TINY)
    return root


_config_ids = itertools.count()


@pytest.fixture(scope='session')
def tiny_cfg(tiny_data):
    """``make(work_dir, max_epochs=2, config=...) -> Config``: a synthetic config, shrunk.

    The default is the synthetic baseline; ``config='cpcl_synthetic.py'`` gives
    CPCL with clustering settings that find clusters among the tiny set's 48 pairs.
    """

    def make(work_dir, max_epochs: int = 2, config: str = 'clip_sdm_synthetic.py') -> Config:
        cfg = Config.fromfile(os.path.join(ROOT, 'configs', config))
        cfg = shrink_config(cfg, str(work_dir), tiny_data, max_epochs=max_epochs, synthetic=TINY)
        cfg.randomness = dict(seed=0, deterministic=True)
        for key in ('val_cfg', 'test_cfg'):
            cfg[key]['progress'] = False
        # A counter, not id(cfg): an id is reused once its object is freed, and MMEngine's
        # named logger/visualizer instances would then be shared between two configs.
        cfg.experiment_name = f'rel_{os.path.basename(str(work_dir))}_{next(_config_ids)}'
        for hook in cfg.get('custom_hooks', []):
            if hook.type == 'PseudoLabelHook':
                hook.update(cluster_cfg=dict(TINY_CLUSTER_CFG), start_epoch=0, progress=False)
        return cfg

    return make


def run_tool(args, env=None, timeout: int = 300, python: bool = True):
    """Run ``python <args>`` (or ``<args>``) in the repository root; never raises on failure.

    The venv's ``bin`` leads ``PATH`` so that the launch scripts find its python.
    """
    path = os.path.dirname(sys.executable) + os.pathsep + os.environ.get('PATH', '')
    full_env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', PATH=path, **(env or {}))
    cmd = ([sys.executable] if python else []) + [str(a) for a in args]
    return subprocess.run(
        cmd, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope='session')
def tool():
    """The :func:`run_tool` helper, plus ``free_port`` and ``ROOT``."""
    run_tool.free_port = free_port
    run_tool.root = ROOT
    return run_tool
