# Copyright (c) tpr_mm contributors. All rights reserved.
"""Bodies of the GPU checks of ``tools/analysis/gpu_check.py``.

Each function runs in a child process and returns result rows
(:func:`~tpr_mm.utils.check_runner.make_row`). Models are the leaf
configs' real architectures with random weights, fed by
:class:`~tpr_mm.testing.synthetic_batches.InMemoryPairs` through the model's
data preprocessor and ``train_step``.
"""

import copy
import math
import os
import os.path as osp
import time
from typing import List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

from tpr_mm.engine.optim_wrappers.cpu_amp import cpu_bf16_autocast_available
from tpr_mm.registry import MODELS
from tpr_mm.utils.check_runner import make_row

from .configs import tiny_model_cfg
from .synthetic_batches import (
    build_train_dataset,
    needs_bert_vocab,
    sample_indices,
    shrink_pipeline_in_place,
    strip_pretrained,
    write_standin_bert_vocab,
)

DTYPES = {'fp16': 'float16', 'bf16': 'bfloat16'}


def _shrink_towers(node, img_size=(32, 16), ctx: int = 24) -> None:
    """In place: every OpenCLIPBackbone becomes :func:`tiny_model_cfg` (CPU smoke).

    Widths that follow CLIP ViT-B/16's 512-d embedding become the tiny one's 32.
    """
    if isinstance(node, dict):
        if node.get('type') == 'OpenCLIPBackbone':
            node.update(
                img_size=img_size, context_length=ctx, model_cfg=tiny_model_cfg(img_size, ctx)
            )
        for key in ('in_channels', 'embed_dims'):
            if node.get(key) == 512:
                node[key] = 32
        for value in node.values():
            _shrink_towers(value, img_size, ctx)
    elif isinstance(node, (list, tuple)):
        for item in node:
            _shrink_towers(item, img_size, ctx)


def prepare(config: str, work_dir: str, tiny: bool = False):
    """Load a leaf config; return (cfg, model cfg without weights, dataset).

    A distillation student gets a teacher checkpoint of a randomly
    initialised teacher saved under ``work_dir``.
    """
    init_default_scope('tpr_mm')
    cfg = Config.fromfile(config)
    model_cfg = copy.deepcopy(cfg.model)
    strip_pretrained(model_cfg)
    if tiny:
        _shrink_towers(model_cfg)
        shrink_pipeline_in_place(cfg)
    if isinstance(model_cfg.get('teacher'), dict) and 'teacher_checkpoint' in model_cfg:
        teacher = MODELS.build(copy.deepcopy(model_cfg['teacher']))
        path = osp.join(work_dir, 'random_teacher.pth')
        torch.save({'state_dict': teacher.state_dict()}, path)
        model_cfg['teacher_checkpoint'] = path
        del teacher
    vocab = None
    if needs_bert_vocab(cfg):
        vocab = write_standin_bert_vocab(osp.join(work_dir, 'vocab.txt'))
    return cfg, model_cfg, build_train_dataset(cfg, bert_vocab=vocab)


def _pairs(dataset):
    return getattr(dataset, 'dataset', dataset)


def install_epoch_state(model, dataset, device) -> None:
    """What the per-epoch hooks would install before training steps.

    CPCL (``head.set_pseudo_labels``, PseudoLabelHook): true identities as
    pseudo labels with 5 % outliers and random unit features for the
    memories. RDE (``head.set_division``, ConsensusDivisionHook): 80 % of the
    pairs marked clean at random.
    """
    head = getattr(model, 'head', None)
    pairs = _pairs(dataset)
    rng = np.random.default_rng(0)
    if head is not None and hasattr(head, 'set_pseudo_labels'):
        labels = np.array([pairs.true_pid(i) for i in range(len(pairs))], dtype=np.int64)
        labels[rng.random(len(labels)) < 0.05] = -1
        dim = int(model.backbone.embed_dim)
        feats = torch.nn.functional.normalize(torch.randn(len(labels), dim, device=device), dim=1)
        head.set_pseudo_labels(labels, labels, feats, feats.clone())
    if head is not None and hasattr(head, 'set_division'):
        head.set_division((rng.random(len(pairs)) < 0.8).astype(np.float32))


def amp_wrapper_cfg(optim_wrapper: dict, dtype: str, device: str) -> dict:
    """The config's optimiser under MMEngine AMP (CUDA) or the CPU bf16 wrapper."""
    cfg = copy.deepcopy(dict(optim_wrapper))
    if device == 'cuda':
        cfg.update(type='AmpOptimWrapper', dtype=DTYPES[dtype], loss_scale='dynamic')
    else:
        cfg['type'] = 'CPUBF16AmpOptimWrapper'
    return cfg


def applied_steps(optimizer) -> int:
    """Optimizer steps actually taken (AMP skips steps on overflow)."""
    steps = [int(s['step']) for s in optimizer.state.values() if 'step' in s]
    return max(steps, default=0)


def images_per_item(dataset) -> int:
    return 1 + int(getattr(dataset, 'num_img_support', 0))


def _sync(device: str) -> None:
    if device == 'cuda':
        torch.cuda.synchronize()


def amp_steps(
    config: str,
    work_dir: str,
    device: str,
    dtypes: Sequence[str],
    steps: int,
    tiny: bool = False,
    batch_size: Optional[int] = None,
) -> List[dict]:
    """A warm-up step plus ``steps`` timed AMP steps per dtype; one row per dtype.

    ``batch_size`` defaults to the config's (4 with ``tiny``).
    """
    name = osp.splitext(osp.basename(config))[0]
    t0 = time.perf_counter()
    cfg, model_cfg, dataset = prepare(config, work_dir, tiny)
    if batch_size is None:
        batch_size = 4 if tiny else int(cfg.train_dataloader.batch_size)
    model = MODELS.build(model_cfg).to(device)
    model.train()
    install_epoch_state(model, dataset, device)
    initial = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    index = sample_indices(len(dataset), batch_size, min(steps + 1, 3))
    batches = [pseudo_collate([dataset[i] for i in idx]) for idx in index]
    setup_s = time.perf_counter() - t0
    rows = []
    for dtype in dtypes:
        check = f'amp {dtype} {name}'
        t1 = time.perf_counter()
        if device != 'cuda' and dtype != 'bf16':
            rows.append(make_row(check, 'skipped', 0.0, 'skipped: fp16 AMP needs CUDA'))
            continue
        if device != 'cuda' and not cpu_bf16_autocast_available():
            reason = 'skipped: this torch build cannot autocast to bf16 on CPU'
            rows.append(make_row(check, 'skipped', 0.0, reason))
            continue
        try:
            model.load_state_dict(initial)
            if device == 'cuda':
                torch.cuda.reset_peak_memory_stats()
            wrapper = build_optim_wrapper(model, amp_wrapper_cfg(cfg.optim_wrapper, dtype, device))
            losses = [float(model.train_step(batches[0], wrapper)['loss'])]
            _sync(device)
            t2 = time.perf_counter()
            for s in range(steps):
                losses.append(
                    float(model.train_step(batches[(s + 1) % len(batches)], wrapper)['loss'])
                )
            _sync(device)
            step_s = (time.perf_counter() - t2) / max(steps, 1)
            applied = applied_steps(wrapper.optimizer)
            ips = batch_size * images_per_item(dataset) / step_s
            peak = torch.cuda.max_memory_allocated() / 2**30 if device == 'cuda' else 0.0
            finite = all(math.isfinite(v) for v in losses)
            ok = finite and applied >= 1
            figure = (
                f'batch {batch_size}, loss {losses[0]:.3g}->{losses[-1]:.3g}, '
                f'{applied}/{len(losses)} steps applied, {ips:.3g} img/s, '
                f'peak {peak:.1f} GiB, setup {setup_s:.0f} s'
            )
            if not finite:
                figure = 'non-finite loss: ' + figure
            rows.append(make_row(check, 'ok' if ok else 'FAIL', time.perf_counter() - t1, figure))
        except Exception as exc:  # one dtype failing must not hide the other
            rows.append(make_row(check, 'FAIL', time.perf_counter() - t1, _describe(exc)))
    return rows


def _describe(exc: BaseException) -> str:
    return f'{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ""}'


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
            _sync(device)
            t_start, wait = time.perf_counter(), 0.0
        tw = time.perf_counter()
        batch = next(it)
        wait += time.perf_counter() - tw
        losses.append(float(model.train_step(batch, wrapper)['loss']))
    _sync(device)
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

    t0 = time.perf_counter()
    if device == 'cuda':
        init_dist('pytorch', backend='nccl')  # what the runner does for --launcher pytorch
    else:
        torch.distributed.init_process_group('gloo')
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
    _sync(device)
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
    backend = 'nccl' if device == 'cuda' else 'gloo'
    return [make_row(f'ddp {backend} x{world}', status, time.perf_counter() - t0, figure)]
