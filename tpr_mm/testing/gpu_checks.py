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


def sync(device: str) -> None:
    """Wait for queued CUDA work (timings); nothing on CPU."""
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
            sync(device)
            t2 = time.perf_counter()
            for s in range(steps):
                losses.append(
                    float(model.train_step(batches[(s + 1) % len(batches)], wrapper)['loss'])
                )
            sync(device)
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
