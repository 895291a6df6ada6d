# Copyright (c) tpr_mm contributors. All rights reserved.
"""Pick a distributed backend that the machine can run."""

import torch
from mmengine.config import Config


def use_gloo_without_cuda(cfg: Config) -> bool:
    """Switch a distributed run from NCCL to gloo when CUDA is unavailable.

    NCCL needs GPUs; every shipped config asks for it, so without this a CPU
    ``tools/dist_train.sh`` run would fail at start-up. Explicitly chosen
    backends other than NCCL are left alone.

    Args:
        cfg (Config): The run's config, with ``launcher`` already set. Updated
            in place (``env_cfg.dist_cfg.backend``).

    Returns:
        bool: Whether the backend was switched.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    if dist_cfg.get('backend', 'nccl') != 'nccl':
        return False
    dist_cfg['backend'] = 'gloo'
    return True
