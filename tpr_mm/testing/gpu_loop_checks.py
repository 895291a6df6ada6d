# Copyright (c) tpr_mm contributors. All rights reserved.
"""GPU checks that run a training loop: a measured epoch slice and DDP over NCCL.

Each function runs in a child process of ``tools/analysis/gpu_check.py`` and
returns result rows (:func:`~tpr_mm.utils.check_runner.make_row`).
"""

import math
import os
import os.path as osp
import time
from typing import List

import torch
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper

from tpr_mm.registry import MODELS
from tpr_mm.utils.check_runner import make_row

from .gpu_checks import (
    amp_wrapper_cfg,
    applied_steps,
    images_per_item,
    install_epoch_state,
    prepare,
    sync,
)
from .synthetic_batches import sample_indices


def epoch_slice(
    config: str,
    work_dir: str,
    warmup: int = 10,
    iters: int = 50,
    dtype: str = 'fp16',
    device: str = 'cuda',
    tiny: bool = False,
) -> List[dict]:
    """Measured images/s of ``iters`` training iterations after ``warmup``.

    Items come from a DataLoader with the config's worker count over the
    in-memory split (the pipeline's augmentations run; JPEG decoding does not).
    """
    from torch.utils.data import DataLoader

    t0 = time.perf_counter()
    cfg, model_cfg, dataset = prepare(config, work_dir, tiny)
    loader_cfg = cfg.train_dataloader
    batch_size, workers = int(loader_cfg.batch_size), int(loader_cfg.get('num_workers', 0))
    if tiny:
        batch_size, workers = 4, 0
    model = MODELS.build(model_cfg).to(device).train()
    install_epoch_state(model, dataset, device)
    wrapper = build_optim_wrapper(model, amp_wrapper_cfg(cfg.optim_wrapper, dtype, device))
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=True,
        num_workers=workers,
        collate_fn=pseudo_collate,
        drop_last=True,
        persistent_workers=workers > 0,
    )
    it, wait, losses = iter(loader), 0.0, []
    for i in range(warmup + iters):
        if i == warmup:
            sync(device)
            t_start, wait = time.perf_counter(), 0.0
        tw = time.perf_counter()
        batch = next(it)
        wait += time.perf_counter() - tw
        losses.append(float(model.train_step(batch, wrapper)['loss']))
    sync(device)
    elapsed = time.perf_counter() - t_start
    ips = iters * batch_size * images_per_item(dataset) / elapsed
    finite = all(math.isfinite(v) for v in losses)
    epoch_min = len(dataset) / batch_size * elapsed / iters / 60
    figure = (
        f'{ips:.0f} img/s measured over {iters} it (batch {batch_size}, {workers} workers, '
        f'{dtype}), data wait {100 * wait / elapsed:.0f} %, epoch ~{epoch_min:.1f} min at this rate'
    )
    name = osp.splitext(osp.basename(config))[0]
    status = 'ok' if finite else 'FAIL'
    return [make_row(f'epoch slice {name}', status, time.perf_counter() - t0, figure)]


def ddp_worker(config: str, work_dir: str, steps: int = 3, device: str = 'cuda') -> List[dict]:
    """Run under torchrun: NCCL init, DDP train steps, parameters equal on every rank.

    ``device='cpu'`` (gloo, tiny model) exists to test this function without a GPU.
    """
    from mmengine.dist import all_gather, get_rank, get_world_size, init_dist
    from mmengine.model import MMDistributedDataParallel

    from tpr_mm.engine.runner.dist_backend import backend_for_device

    t0 = time.perf_counter()
    backend = backend_for_device(device)
    if device == 'cuda':
        init_dist('pytorch', backend=backend)  # what the runner does for --launcher pytorch
    else:
        torch.distributed.init_process_group(backend)
    rank, world = get_rank(), get_world_size()
    local = int(os.environ.get('LOCAL_RANK', 0))
    rank_dir = osp.join(work_dir, f'rank{rank}')
    os.makedirs(rank_dir, exist_ok=True)
    cfg, model_cfg, dataset = prepare(config, rank_dir, tiny=device != 'cuda')
    batch_size = int(cfg.train_dataloader.batch_size) if device == 'cuda' else 4
    model = MODELS.build(model_cfg).to(device)
    ddp = MMDistributedDataParallel(
        module=model, device_ids=[local] if device == 'cuda' else None, broadcast_buffers=False
    )
    dtype = 'fp16' if device == 'cuda' else 'bf16'
    wrapper = build_optim_wrapper(ddp, amp_wrapper_cfg(cfg.optim_wrapper, dtype, device))
    index = sample_indices(len(dataset), batch_size, steps, seed=rank)
    losses = []
    t1 = time.perf_counter()
    for idx in index:
        batch = pseudo_collate([dataset[i] for i in idx])
        losses.append(float(ddp.train_step(batch, wrapper)['loss']))
    sync(device)
    step_s = (time.perf_counter() - t1) / max(len(index), 1)
    checksum = torch.stack([p.detach().double().sum() for p in model.parameters()]).sum()
    sums = [float(x) for x in all_gather(checksum.reshape(1))]
    equal = all(s == sums[0] for s in sums)
    finite = all(math.isfinite(v) for v in losses)
    applied = applied_steps(wrapper.optimizer)
    figure = (
        f'{world} rank(s), {applied}/{len(losses)} {dtype} steps applied, loss {losses[-1]:.3g}, '
        f'params {"equal" if equal else "DIFFER"} across ranks, {step_s:.2f} s/step (incl. data)'
    )
    status = 'ok' if equal and finite and applied >= 1 else 'FAIL'
    return [make_row(f'ddp {backend} x{world}', status, time.perf_counter() - t0, figure)]
