# Copyright (c) tpr_mm contributors. All rights reserved.
"""Building a frozen teacher from its config and checkpoint file for distillation.

Which file of the teacher's work dir to use is decided in the engine
(:class:`~tpr_mm.engine.hooks.FrozenTeacherHook`, ``tools/train_two_stage.py``);
here the weights are read with MMEngine's public ``load_checkpoint``, which in
tpr_mm unpickles local files with ``weights_only=True`` (:mod:`tpr_mm.fileio`).
"""

import copy
import os.path as osp
import re
from typing import Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.runner import load_checkpoint

from tpr_mm.registry import MODELS

_REVISE_KEYS = [(r'^module\.', '')]


def load_teacher_weights(model: nn.Module, checkpoint: str) -> None:
    """Load an MMEngine checkpoint file into ``model``; every tensor must fit.

    Args:
        model (nn.Module): The teacher.
        checkpoint (str): A checkpoint file (``state_dict`` + ``meta``).

    Raises:
        RuntimeError: keys are missing or unexpected, or shapes differ (on
            every rank; MMEngine's strict mode raises on rank 0 only).
    """
    ckpt = load_checkpoint(
        model, checkpoint, map_location='cpu', strict=False, revise_keys=_REVISE_KEYS
    )
    state = ckpt.get('state_dict', ckpt)
    for pattern, repl in _REVISE_KEYS:
        state = {re.sub(pattern, repl, k): v for k, v in state.items()}
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    resized = [k for k in own if k in state and own[k].shape != getattr(state[k], 'shape', None)]
    if missing or unexpected or resized:
        raise RuntimeError(
            f'checkpoint {checkpoint} does not match {type(model).__name__}: '
            f'missing keys {missing[:5]}{"..." if len(missing) > 5 else ""}, '
            f'unexpected keys {unexpected[:5]}{"..." if len(unexpected) > 5 else ""}, '
            f'other shapes {resized[:5]}'
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
        checkpoint (str): The teacher's checkpoint file.
        device (torch.device, optional): Where to put the teacher.

    Returns:
        nn.Module: The teacher; ``requires_grad`` is False everywhere.
    """
    if not checkpoint:
        raise ValueError(
            'distillation needs teacher_checkpoint (a .pth file, a '
            'last_checkpoint file or the teacher work dir)'
        )
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'teacher checkpoint {checkpoint} is not a file. A last_checkpoint file or a '
            "teacher work dir is resolved by FrozenTeacherHook (in the LCR²S student configs' "
            'custom_hooks) or tools/train_two_stage.py'
        )
    cfg = copy.deepcopy(cfg)
    if isinstance(cfg.get('backbone'), dict):
        # Every weight comes from the checkpoint; do not read initial weights.
        _skip_initial_weights(cfg['backbone'])
    teacher = MODELS.build(cfg)
    load_teacher_weights(teacher, checkpoint)
    teacher.requires_grad_(False)
    teacher.eval()
    if device is not None:
        teacher.to(device)
    print_log(f'loaded frozen teacher {type(teacher).__name__} from {checkpoint}', logger='current')
    return teacher
