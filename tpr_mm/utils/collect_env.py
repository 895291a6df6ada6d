# Copyright (c) tpr_mm contributors. All rights reserved.
"""Versions to paste into a bug report: ``python tools/analysis/collect_env.py``.

Built on MMEngine's public :func:`mmengine.utils.dl_utils.collect_env` (Python,
PyTorch, CUDA devices, compilers, TorchVision, OpenCV) plus the packages
tpr_mm runs on (mmcv, mmpretrain, open_clip, faiss, numpy, setuptools, tpr_mm).
"""

import importlib
import platform
import sys
from collections import OrderedDict
from typing import Callable, Dict, Optional

NOT_INSTALLED = 'not installed'

# MMEngine keys left out: restated under our names, the process's RNG state
# (not an environment fact), and the multi-line build config (one line per key).
_MMENGINE_SKIP = frozenset(
    {
        'sys.platform',
        'Python',
        'PyTorch',
        'CUDA available',
        'MMEngine',
        'numpy_random_seed',
        'PyTorch compiling details',
    }
)


def _module_version(name: str, attr: str = '__version__') -> str:
    """Version of an importable module, or why there is none (never raises)."""
    try:
        module = importlib.import_module(name)
    except Exception as err:  # a broken install is itself worth reporting
        if isinstance(err, ModuleNotFoundError) and err.name == name.split('.')[0]:
            return NOT_INSTALLED
        return f'import failed ({type(err).__name__}: {err})'
    return str(getattr(module, attr, 'unknown'))


def _mmengine_env() -> Dict[str, object]:
    """MMEngine's report, or one entry saying why it failed (never raises)."""
    try:
        from mmengine.utils.dl_utils import collect_env
    except Exception as err:
        return {'MMEngine collect_env': f'import failed ({type(err).__name__}: {err})'}
    try:
        return dict(collect_env())
    except Exception as err:  # e.g. a broken OpenCV or compiler probe
        return {'MMEngine collect_env': f'failed ({type(err).__name__}: {err})'}


def _torch_info(env: 'OrderedDict[str, str]', base: Dict[str, object]) -> None:
    version = str(base['PyTorch']) if 'PyTorch' in base else _module_version('torch')
    env['PyTorch'] = version
    if version == NOT_INSTALLED or version.startswith('import failed'):
        return
    import torch

    available = bool(base.get('CUDA available', torch.cuda.is_available()))
    env['CUDA available'] = str(available)
    env['PyTorch CUDA build'] = str(torch.version.cuda)
    if available:
        env['TF32 matmul allowed'] = str(torch.backends.cuda.matmul.allow_tf32)


def _faiss_info(env: 'OrderedDict[str, str]') -> None:
    version = _module_version('faiss')
    env['faiss'] = version
    if version == NOT_INSTALLED or version.startswith('import failed'):
        return
    import faiss

    get_num_gpus: Optional[Callable[[], int]] = getattr(faiss, 'get_num_gpus', None)
    env['faiss GPUs'] = str(get_num_gpus()) if get_num_gpus is not None else '0 (CPU build)'


def collect_env_info() -> 'OrderedDict[str, str]':
    """Collect the environment facts a bug report needs.

    Returns:
        OrderedDict[str, str]: name -> version or state, in a stable order:
        platform, Python, PyTorch (+ CUDA state), mmengine, mmcv, mmpretrain,
        open_clip, faiss (+ GPU count), numpy, setuptools, tpr_mm, then the
        rest of MMEngine's report (GPU names, CUDA_HOME, NVCC, GCC,
        TorchVision, OpenCV, ...). A missing package reads ``'not installed'``;
        a failing import names the error. Every value is one line.
    """
    base = _mmengine_env()
    env: OrderedDict[str, str] = OrderedDict()
    env['platform'] = platform.platform()
    env['Python'] = str(base.get('Python', sys.version)).replace('\n', ' ')
    _torch_info(env, base)
    env['mmengine'] = str(base['MMEngine']) if 'MMEngine' in base else _module_version('mmengine')
    env['mmcv'] = _module_version('mmcv')
    env['mmpretrain'] = _module_version('mmpretrain')
    env['open_clip'] = _module_version('open_clip')
    _faiss_info(env)
    env['numpy'] = _module_version('numpy')
    env['setuptools'] = _module_version('setuptools')
    env['tpr_mm'] = _module_version('tpr_mm')
    for key, value in base.items():
        if key not in _MMENGINE_SKIP and key not in env:
            env[key] = ' '.join(str(value).split())
    return env


def format_env(env: 'OrderedDict[str, str]') -> str:
    """One ``name: value`` line per entry."""
    return '\n'.join(f'{key}: {value}' for key, value in env.items())
