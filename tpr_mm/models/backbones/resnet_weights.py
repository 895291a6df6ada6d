# Copyright (c) tpr_mm contributors. All rights reserved.
"""ImageNet ResNet checkpoints (torchvision or MMPretrain key layout) into MMPretrain's ResNet."""

import os.path as osp
from typing import Dict, Tuple

import torch
import torch.nn as nn
from mmengine.logging import print_log

from tpr_mm.fileio import safe_torch_load

__all__ = ['load_imagenet_resnet', 'convert_resnet_state_dict', 'read_resnet_checkpoint']


def read_resnet_checkpoint(path: str) -> Dict[str, torch.Tensor]:
    """Read a local checkpoint file with safe unpickling (``weights_only=True``).

    Accepts a bare state dict (torchvision's ``resnet50-*.pth``) or a dict
    holding one under ``state_dict`` (MMPretrain / MMEngine checkpoints).

    Raises:
        FileNotFoundError: ``path`` is not a file.
        RuntimeError: the file is not a readable tensor checkpoint.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'ImageNet ResNet checkpoint not found: {path} (see docs/methods/lcr2s.md)'
        )
    # The project's one weights-only loader: damaged or crafted files are named.
    ckpt = safe_torch_load(path, map_location='cpu')
    if isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict):
        ckpt = ckpt['state_dict']
    if not isinstance(ckpt, dict) or not all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise RuntimeError(f'{path} holds no state dict of tensors (got {type(ckpt).__name__})')
    return ckpt


def convert_resnet_state_dict(state: Dict[str, torch.Tensor]) -> Tuple[Dict, str]:
    """Map a torchvision or MMPretrain ImageNet ResNet state dict to MMPretrain ``ResNet`` keys.

    * MMPretrain (``ImageClassifier``): keys ``backbone.conv1.weight``,
      ``backbone.layer1.0.conv1.weight``, ... plus ``head.fc.*``: the
      ``backbone.`` prefix is removed, the classifier head dropped.
    * torchvision (``torchvision.models.resnet50``): keys ``conv1.weight``,
      ``bn1.*``, ``layer1.0.conv1.weight``, ``layer1.0.downsample.{0,1}.*``,
      ``fc.*``: MMPretrain's ResNet registers its modules under the same names
      (``conv1``/``bn1``/``layer1..4``, bottleneck ``conv1..3``/``bn1..3``,
      ``downsample.0/1``), so only ``fc.*`` is dropped.

    A ``module.`` prefix (DataParallel) is removed first.

    Returns:
        tuple[dict, str]: converted state dict and the detected layout
        (``'mmpretrain'`` or ``'torchvision'``).
    """
    state = {k[len('module.') :] if k.startswith('module.') else k: v for k, v in state.items()}
    if any(k.startswith('backbone.') for k in state):
        out = {k[len('backbone.') :]: v for k, v in state.items() if k.startswith('backbone.')}
        return out, 'mmpretrain'
    return {k: v for k, v in state.items() if not k.startswith('fc.')}, 'torchvision'


def load_imagenet_resnet(resnet: nn.Module, path: str) -> str:
    """Load ImageNet weights from a local file into an MMPretrain ``ResNet``, strictly.

    Every parameter and buffer of ``resnet`` must be in the file with the same
    shape, except ``num_batches_tracked`` counters (old torchvision files have
    none); the file may hold nothing else but the classifier.

    Args:
        resnet (nn.Module): ``mmpretrain.models.ResNet`` (any depth / strides).
        path (str): Local ``.pth`` file, torchvision or MMPretrain key layout.

    Returns:
        str: the detected layout.

    Raises:
        RuntimeError: missing, unexpected or mis-shaped keys, naming the file.
    """
    state, layout = convert_resnet_state_dict(read_resnet_checkpoint(path))
    own = resnet.state_dict()
    missing = [k for k in own if k not in state and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f'{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
        for k in own
        if k in state and state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        raise RuntimeError(
            f'ImageNet checkpoint {path} ({layout} layout) does not fit '
            f'{type(resnet).__name__}(depth={getattr(resnet, "depth", "?")}): '
            f'{len(missing)} missing keys {missing[:5]}, {len(unexpected)} unexpected keys '
            f'{unexpected[:5]}, {len(shapes)} shape mismatches {shapes[:3]}'
        )
    resnet.load_state_dict(state, strict=False)
    print_log(f'loaded ImageNet ResNet weights ({layout} layout) from {path}', logger='current')
    return layout
