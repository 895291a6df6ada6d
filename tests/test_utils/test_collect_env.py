# Copyright (c) tpr_mm contributors. All rights reserved.
"""tpr_mm.utils.collect_env and tools/analysis/collect_env.py."""

import os
import os.path as osp
import subprocess
import sys

import numpy as np
import torch

import tpr_mm
from tpr_mm.utils import collect_env as collect_env_module
from tpr_mm.utils import collect_env_info, format_env

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KEYS = [
    'platform',
    'Python',
    'PyTorch',
    'CUDA available',
    'PyTorch CUDA build',
    'mmengine',
    'mmcv',
    'mmpretrain',
    'open_clip',
    'faiss',
    'faiss GPUs',
    'numpy',
    'setuptools',
    'tpr_mm',
]


def test_collect_env_reports_installed_versions():
    env = collect_env_info()
    for key in KEYS:
        assert key in env, key
    assert list(env)[:3] == ['platform', 'Python', 'PyTorch']
    assert env['PyTorch'] == torch.__version__
    assert env['numpy'] == np.__version__
    assert env['tpr_mm'] == tpr_mm.__version__
    assert env['CUDA available'] == str(torch.cuda.is_available())
    assert env['Python'].startswith(sys.version.split()[0])
    assert env['faiss GPUs'].split()[0].isdigit()


def test_missing_and_broken_modules_do_not_raise(tmp_path, monkeypatch):
    assert collect_env_module._module_version('no_such_module_xyz') == 'not installed'
    (tmp_path / 'broken_mod_xyz.py').write_text('raise RuntimeError("bad build")\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    msg = collect_env_module._module_version('broken_mod_xyz')
    assert msg.startswith('import failed') and 'bad build' in msg


def test_format_env_one_line_per_entry():
    text = format_env(collect_env_info())
    lines = text.splitlines()
    assert len(lines) == len(collect_env_info())
    assert lines[0].startswith('platform: ')


def test_tool_prints_the_report():
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.run(
        [sys.executable, osp.join('tools', 'analysis', 'collect_env.py')],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert 'RuntimeWarning' not in proc.stderr
    assert f'tpr_mm: {tpr_mm.__version__}' in proc.stdout
    assert 'mmengine: ' in proc.stdout and 'faiss GPUs: ' in proc.stdout


def test_builds_on_mmengines_report(monkeypatch):
    from mmengine.utils.dl_utils import collect_env as mmengine_collect_env

    base = mmengine_collect_env()
    env = collect_env_info()
    assert env['mmengine'] == base['MMEngine'] and env['PyTorch'] == base['PyTorch']
    for key in ('GCC', 'TorchVision', 'OpenCV'):  # MMEngine's extras come along
        if key in base:
            assert env[key] == base[key], key
    assert 'PyTorch compiling details' not in env and 'numpy_random_seed' not in env
    assert all('\n' not in value for value in env.values())

    def broken():
        raise RuntimeError('probe crashed')

    monkeypatch.setattr('mmengine.utils.dl_utils.collect_env', broken)
    env = collect_env_info()  # our own keys still come, MMEngine's failure is named
    assert env['PyTorch'] == torch.__version__ and env['tpr_mm'] == tpr_mm.__version__
    assert 'probe crashed' in env['MMEngine collect_env']
