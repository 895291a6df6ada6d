# Copyright (c) tpr_mm contributors. All rights reserved.
"""The projected GPU epoch of a rehearsal: measured FLOPs of the unshrunk model.

:func:`real_size_flops` builds the config's model at real size with random
weights and counts the forward FLOPs of one training sample on a real batch of
the size-true set; :func:`projected_epoch_seconds` turns them into a projected
epoch time at a stated sustained throughput. A projection, not a measurement.
"""

import copy
from typing import Dict

import numpy as np
import torch
from mmengine.config import Config

# Default sustained throughput of the projection: an A100-class GPU at ~40 %
# of its 312 TFLOP/s dense bf16 peak, a typical ViT training efficiency.
DEFAULT_DEVICE_TFLOPS = 125.0


def install_epoch_state(model: torch.nn.Module, num_items: int) -> None:
    """Set what a per-epoch hook would set before the first step: CPCL's
    pseudo labels (every pair an outlier, as before the first clustering)."""
    head = getattr(model, 'head', None)
    if hasattr(head, 'set_pseudo_labels'):
        none = np.full(num_items, -1, dtype=np.int64)
        head.set_pseudo_labels(none, none, np.zeros((num_items, 1)), np.zeros((num_items, 1)))


def sample_flops(model: torch.nn.Module, batch: dict) -> float:
    """Forward FLOPs per training sample of ``model`` on one collated batch
    (``model.loss`` in train mode, counted by ``torch.utils.flop_counter``)."""
    from torch.utils.flop_counter import FlopCounterMode

    data = model.data_preprocessor(batch, True)
    model.train()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(data['inputs'], data['data_samples'], mode='loss')
    return counter.get_total_flops() / len(data['data_samples'])


def projected_epoch_seconds(
    flops_per_sample: float, samples: int, device_tflops: float = DEFAULT_DEVICE_TFLOPS
) -> float:
    """Projected epoch time: 3 x forward FLOPs (forward + backward) per
    sample, ``samples`` samples, at ``device_tflops`` sustained."""
    return 3.0 * flops_per_sample * samples / (device_tflops * 1e12)


def _real_size(node) -> None:
    """Random-weight, real-size backbones (no checkpoint files needed)."""
    if isinstance(node, dict):
        if node.get('type') == 'OpenCLIPBackbone':
            node['pretrained'] = None
        elif node.get('type') == 'HFBertBackbone':  # bert-base-uncased's shape
            node.update(pretrained=None, config=dict(vocab_size=30522))
        if 'teacher_checkpoint' in node:
            node['teacher_checkpoint'] = None
        for value in node.values():
            _real_size(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _real_size(value)


def real_size_flops(cfg: Config, rehearsal_cfg: Config) -> Dict:
    """Forward FLOPs per training sample of the unshrunk model, measured on
    one batch of 2 samples of the rehearsal data (distillation terms of a
    student are not counted: the teacher is not built)."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from tpr_mm.registry import MODELS

    model_cfg = copy.deepcopy(cfg.model)
    _real_size(model_cfg)
    if 'distill_head' in model_cfg:
        model_cfg['distill_head'] = None
    with DefaultScope.overwrite_default_scope('tpr_mm'):
        model = MODELS.build(model_cfg)
        loader_cfg = copy.deepcopy(rehearsal_cfg.train_dataloader)
        loader_cfg.update(batch_size=2, num_workers=0, persistent_workers=False)
        loader = Runner.build_dataloader(loader_cfg, seed=0)
        batch = next(iter(loader))
    install_epoch_state(model, len(loader.dataset))
    flops = sample_flops(model, batch)
    return {
        'forward_flops_per_sample': int(flops),
        'forward_gflops_per_sample': round(flops / 1e9, 2),
    }
