# Copyright (c) tpr_mm contributors. All rights reserved.
"""The one place that picks the distributed backend a machine can run."""

from typing import Optional

import torch
from mmengine.config import Config


def backend_for_device(device: str) -> str:
    """The process-group backend for a device type: NCCL on ``'cuda'``, gloo otherwise.

    Args:
        device (str): ``'cuda'`` or ``'cpu'``.

    Returns:
        str: ``'nccl'`` or ``'gloo'``.
    """
    return 'nccl' if device == 'cuda' else 'gloo'


def use_gloo_without_cuda(cfg: Config) -> bool:
    """Switch a distributed run from NCCL to gloo when CUDA is unavailable.

    NCCL needs GPUs; every shipped config asks for it, so without this a CPU
    ``tools/dist_train.sh`` run would fail at start-up. Explicitly chosen
    backends other than NCCL are left alone. :class:`~tpr_mm.engine.runner.TPRRunner`
    calls it while setting up its environment; the tools do not.

    Args:
        cfg (Config | dict): ``launcher`` and ``env_cfg`` of the run (a config
            or a dict holding those keys). Updated in place
            (``env_cfg.dist_cfg.backend``).

    Returns:
        bool: Whether the backend was switched.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    # Assign, then read back: a ConfigDict stores a copy of an assigned dict.
    if cfg.get('env_cfg') is None:
        cfg['env_cfg'] = {}
    env_cfg = cfg['env_cfg']
    if env_cfg.get('dist_cfg') is None:
        env_cfg['dist_cfg'] = {}
    dist_cfg = env_cfg['dist_cfg']
    if dist_cfg.get('backend', 'nccl') != 'nccl':
        return False
    dist_cfg['backend'] = backend_for_device('cpu')
    return True


def cpu_process_group_kwargs(launcher: str, env_cfg: dict) -> Optional[dict]:
    """Arguments for starting a CPU process group ourselves, or None.

    MMEngine's ``pytorch`` launcher calls ``torch.cuda.set_device`` even for
    gloo, so on a machine without CUDA the runner starts the process group
    itself with these arguments (``init_process_group(**kwargs)``).

    Args:
        launcher (str): The runner's launcher.
        env_cfg (dict): The run's ``env_cfg`` after :func:`use_gloo_without_cuda`.

    Returns:
        dict | None: ``backend`` plus the other ``dist_cfg`` entries (with
        ``timeout`` in seconds turned into a ``timedelta``), or None when
        MMEngine's own start-up works (GPUs present, or another launcher).
    """
    from datetime import timedelta

    if launcher != 'pytorch' or torch.cuda.is_available():
        return None
    kwargs = dict(env_cfg.get('dist_cfg', {}))
    kwargs.setdefault('backend', backend_for_device('cpu'))
    if kwargs.get('timeout') is not None:
        kwargs['timeout'] = timedelta(seconds=kwargs['timeout'])
    return kwargs
