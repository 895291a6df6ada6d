# Copyright (c) tpr_mm contributors. All rights reserved.
"""Time one training step of a rehearsal config (a cheap stand-in for a full epoch).

Where a whole rehearsal epoch does not fit the machine (token-level heads on
a CPU), the CPU time of one optimiser step on a real batch of the size-true
set, times the iterations per epoch, tells how long the epoch would take.
The step runs the rehearsal model (shrunk backbone, heads as shipped) through
``train_step`` with the config's optimiser wrapper, in this process, without
dataloader workers, after one warm-up step.
"""

import copy
import time
from typing import Dict, Optional

from mmengine.config import Config

from tpr_mm.apis.epoch_projection import install_epoch_state
from tpr_mm.apis.rehearsal import rehearsal_config


def time_train_steps(
    config: str,
    data_root: str,
    steps: int = 3,
    bert_vocab: Optional[str] = None,
) -> Dict:
    """Mean wall and CPU seconds of ``steps`` training steps of the rehearsal model.

    Args:
        config (str): A shipped leaf config.
        data_root (str): A size-true set in the config's annotation layout.
        steps (int): Timed steps after one warm-up step. Defaults to 3.
        bert_vocab (str, optional): See :func:`rehearsal_config`.

    Returns:
        dict: ``step_wall_s``, ``step_cpu_s`` (process CPU time per step),
        ``batch_size``, ``iters_per_epoch`` and ``epoch_cpu_s_estimate``
        (``step_cpu_s`` x iterations; data loading not included).
    """
    import torch
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from tpr_mm.registry import MODELS

    if steps < 1:
        raise ValueError(f'steps must be >= 1, got {steps}')
    cfg = rehearsal_config(Config.fromfile(config), data_root, '.', bert_vocab=bert_vocab)
    if cfg.model.get('distill_head') is not None:
        raise ValueError(
            f'{config}: a distilled student needs its teacher checkpoint; time the teacher '
            'instead or run the full rehearsal with --teacher-checkpoint'
        )
    with DefaultScope.overwrite_default_scope('tpr_mm'):
        model = MODELS.build(cfg.model)
        loader_cfg = copy.deepcopy(cfg.train_dataloader)
        loader_cfg.update(num_workers=0, persistent_workers=False)
        loader = Runner.build_dataloader(loader_cfg, seed=0)
        batch = next(iter(loader))
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
    install_epoch_state(model, len(loader.dataset))
    model.train()
    model.train_step(batch, optim)  # warm-up: lazy allocations, first-call dispatch
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.train_step(batch, optim)
    wall = (time.perf_counter() - wall) / steps
    cpu = (time.process_time() - cpu) / steps
    iters = len(loader)
    return dict(
        config=config,
        threads=torch.get_num_threads(),
        batch_size=int(loader_cfg.batch_size),
        iters_per_epoch=iters,
        step_wall_s=round(wall, 3),
        step_cpu_s=round(cpu, 3),
        epoch_cpu_s_estimate=round(cpu * iters, 1),
    )
