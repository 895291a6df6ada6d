# Copyright (c) tpr_mm contributors. All rights reserved.
"""Finding and loading a trained teacher for distillation."""

import copy
import glob
import os
import os.path as osp
from typing import Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log

from tpr_mm.registry import MODELS


def _read_pointer(path: str) -> str:
    """Resolve MMEngine's ``last_checkpoint`` text file (it holds a path)."""
    with open(path) as f:
        target = f.read().strip()
    if not target:
        raise FileNotFoundError(f'checkpoint pointer {path} is empty')
    if not osp.isabs(target) and not osp.exists(target):
        # Written relative to the training's cwd; try next to the pointer too.
        sibling = osp.join(osp.dirname(path), osp.basename(target))
        target = sibling if osp.exists(sibling) else target
    if not osp.isfile(target):
        raise FileNotFoundError(f'{path} points to {target}, which does not exist')
    return target


def resolve_checkpoint(path: str, prefer: str = 'best') -> str:
    """Turn a checkpoint file, a ``last_checkpoint`` pointer or a work dir into a file.

    For a work dir, ``prefer='best'`` returns the val-selected ``best_*.pth``
    (the newest if there are several) and falls back to the last checkpoint;
    ``prefer='last'`` returns the last checkpoint.

    Args:
        path (str): ``.pth`` file, ``.../last_checkpoint`` or a work dir.
        prefer (str): ``'best'`` or ``'last'``.

    Returns:
        str: Path of a checkpoint file.

    Raises:
        FileNotFoundError: nothing usable at ``path``.
    """
    if prefer not in ('best', 'last'):
        raise ValueError(f"prefer must be 'best' or 'last', got {prefer!r}")
    if osp.isdir(path):
        best = sorted(glob.glob(osp.join(path, 'best_*.pth')), key=os.path.getmtime)
        if prefer == 'best' and best:
            return best[-1]
        pointer = osp.join(path, 'last_checkpoint')
        if osp.isfile(pointer):
            return _read_pointer(pointer)
        raise FileNotFoundError(f'no best_*.pth and no last_checkpoint in work dir {path}')
    if osp.isfile(path):
        if osp.basename(path) == 'last_checkpoint':
            return _read_pointer(path)
        return path
    raise FileNotFoundError(
        f'checkpoint {path} not found (expected a .pth file, a last_checkpoint file or a work dir)'
    )


def load_model_weights(model: nn.Module, checkpoint: str) -> None:
    """Load an MMEngine checkpoint's ``state_dict`` strictly, with safe unpickling."""
    from tpr_mm.fileio import safe_torch_load

    ckpt = safe_torch_load(checkpoint, map_location='cpu')  # weights_only=True
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else ckpt
    state = {k[len('module.') :] if k.startswith('module.') else k: v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(
            f'checkpoint {checkpoint} does not match {type(model).__name__}: '
            f'missing keys {missing[:5]}{"..." if len(missing) > 5 else ""}, '
            f'unexpected keys {unexpected[:5]}'
            f'{"..." if len(unexpected) > 5 else ""}'
        )


def _skip_initial_weights(cfg: dict) -> None:
    """Set ``pretrained=None`` in a backbone config and its nested module configs.

    A BERT tower keeps its ``pretrained`` directory: it also defines the
    architecture (``HFBertBackbone`` needs a directory or a config).
    """
    if cfg.get('type') == 'HFBertBackbone':
        return
    if 'pretrained' in cfg:
        cfg['pretrained'] = None
    for value in cfg.values():
        if isinstance(value, dict):
            _skip_initial_weights(value)


def build_frozen_teacher(
    cfg: dict, checkpoint: Optional[str], device: Optional[torch.device] = None
) -> nn.Module:
    """Build a model from ``cfg``, load ``checkpoint``, freeze it and put it in eval mode.

    Args:
        cfg (dict): Teacher model config.
        checkpoint (str): Anything :func:`resolve_checkpoint` accepts.
        device (torch.device, optional): Where to put the teacher.

    Returns:
        nn.Module: The teacher; ``requires_grad`` is False everywhere.
    """
    if not checkpoint:
        raise ValueError(
            'distillation needs teacher_checkpoint (a .pth file, a '
            'last_checkpoint file or the teacher work dir)'
        )
    path = resolve_checkpoint(checkpoint)
    cfg = copy.deepcopy(cfg)
    if isinstance(cfg.get('backbone'), dict):
        # Every weight comes from the checkpoint; do not read initial weights.
        _skip_initial_weights(cfg['backbone'])
    teacher = MODELS.build(cfg)
    load_model_weights(teacher, path)
    teacher.requires_grad_(False)
    teacher.eval()
    if device is not None:
        teacher.to(device)
    print_log(f'loaded frozen teacher {type(teacher).__name__} from {path}', logger='current')
    return teacher
