# Copyright (c) tpr_mm contributors. All rights reserved.
"""Checks only a GPU exercises, run by ``tools/analysis/gpu_check.sh``.

Each check returns one table row ``(check, result, seconds)``; a failing
check is reported, not raised, so one table covers everything:

* ``amp_steps``: 3 AMP training steps (fp16 with a gradient scaler, bf16) of
  a real config's unshrunk model with random weights on a real batch;
* ``faiss_gpu_clustering``: :func:`cluster_pseudo_labels` on 68,126 x 512
  heavy-overlap features, saying whether faiss used the GPU;
* ``metric_gpu``: the rank metric from CUDA features at ICFG-PEDES size;
* ``train_slice``: measured images/s of ``iters`` bf16 training iterations
  through the config's own dataloader (workers, pipeline).

The DDP/NCCL check is ``torchrun`` on ``tools/train.py`` (in the script).
"""

import copy
import time
from typing import List, Tuple

import numpy as np
import torch

Row = Tuple[str, str, float]


def _model_and_loader(config: str, data_root: str, batch_size: int = 16):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    from tpr_mm.apis.rehearsal import _point_data, _real_size
    from tpr_mm.registry import MODELS

    cfg = Config.fromfile(config)
    model_cfg = copy.deepcopy(cfg.model)
    _real_size(model_cfg)
    if 'distill_losses' in model_cfg:
        model_cfg['distill_losses'] = []
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    _point_data(loader_cfg, data_root)
    loader_cfg.update(batch_size=batch_size)
    with DefaultScope.overwrite_default_scope('tpr_mm'):
        model = MODELS.build(model_cfg).cuda()
        loader = Runner.build_dataloader(loader_cfg, seed=0)
    head = getattr(model, 'head', None)
    if hasattr(head, 'set_pseudo_labels'):
        n = len(loader.dataset)
        none = np.full(n, -1, dtype=np.int64)
        head.set_pseudo_labels(none, none, np.zeros((n, 1)), np.zeros((n, 1)))
    return model, loader


def _step(model, batch, optim, dtype, scaler=None) -> float:
    data = model.data_preprocessor(batch, True)
    with torch.autocast('cuda', dtype=dtype):
        losses = model(data['inputs'], data['data_samples'], mode='loss')
    loss = sum(v for k, v in losses.items() if k.startswith('loss'))
    optim.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.step(optim)
        scaler.update()
    else:
        loss.backward()
        optim.step()
    return float(loss.detach())


def amp_steps(config: str, data_root: str) -> List[Row]:
    rows = []
    model, loader = _model_and_loader(config, data_root)
    batch = next(iter(loader))
    model.train()
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    for name, dtype in (('fp16', torch.float16), ('bf16', torch.bfloat16)):
        scaler = torch.amp.GradScaler('cuda') if dtype == torch.float16 else None
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        losses = [_step(model, batch, optim, dtype, scaler) for _ in range(3)]
        torch.cuda.synchronize()
        ok = all(np.isfinite(losses))
        rows.append(
            (
                f'amp {name} x3 {config}',
                f'{"ok" if ok else "NON-FINITE"} {losses[-1]:.3f}',
                time.perf_counter() - t0,
            )
        )
    return rows


def train_slice(config: str, data_root: str, iters: int = 50) -> List[Row]:
    model, loader = _model_and_loader(config, data_root, batch_size=64)
    model.train()
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    it, seen = iter(loader), 0
    _step(model, next(it), optim, torch.bfloat16)  # warm-up
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        batch = next(it)
        _step(model, batch, optim, torch.bfloat16)
        seen += len(batch['data_samples'])
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    return [(f'train slice {iters} it bf16 {config}', f'{seen / wall:.1f} images/s', wall)]


def faiss_gpu_clustering() -> List[Row]:
    import faiss

    from tpr_mm.models.clustering import cluster_pseudo_labels
    from tpr_mm.models.clustering.knn import _use_gpu

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((11003, 512), dtype=np.float32)
    feats = centres[rng.integers(0, 11003, 68126)] + rng.standard_normal(
        (68126, 512), dtype=np.float32
    )
    t0 = time.perf_counter()
    labels = cluster_pseudo_labels(feats)
    wall = time.perf_counter() - t0
    where = f'faiss GPUs={faiss.get_num_gpus()} used={_use_gpu()}'
    return [('faiss kNN in clustering 68,126x512', f'{where}, {labels.max() + 1} clusters', wall)]


def metric_gpu() -> List[Row]:
    from tpr_mm.evaluation.functional.ranking import rank_metrics_from_features

    g = torch.Generator(device='cuda').manual_seed(0)
    ids = torch.randint(0, 1000, (19848,), device='cuda', generator=g)
    centres = torch.randn(1000, 512, device='cuda', generator=g)
    q = centres[ids] + torch.randn(19848, 512, device='cuda', generator=g)
    gal = centres[ids] + torch.randn(19848, 512, device='cuda', generator=g)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = rank_metrics_from_features(q, gal, ids, ids)
    torch.cuda.synchronize()
    return [('metric on GPU 19,848 x 19,848', f'R1={out["R1"]:.2f}', time.perf_counter() - t0)]


def run_checks(configs: List[str], data_root: str, slice_config: str) -> List[Row]:
    rows: List[Row] = []
    jobs = [(amp_steps, (c, data_root)) for c in configs]
    jobs += [(faiss_gpu_clustering, ()), (metric_gpu, ()), (train_slice, (slice_config, data_root))]
    for fn, args in jobs:
        t0 = time.perf_counter()
        try:
            rows += fn(*args)
        except Exception as exc:  # report, keep going
            rows.append(
                (
                    f'{fn.__name__} {" ".join(map(str, args))}',
                    f'FAILED {type(exc).__name__}: {exc}'[:160],
                    time.perf_counter() - t0,
                )
            )
        torch.cuda.empty_cache()
    return rows


def format_rows(rows: List[Row]) -> str:
    width = max(len(r[0]) for r in rows) + 2
    lines = [f'{"check":<{width}}{"seconds":>9}  result']
    lines += [f'{c:<{width}}{s:>9.1f}  {r}' for c, r, s in rows]
    return '\n'.join(lines)
