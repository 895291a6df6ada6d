# Copyright (c) tpr_mm contributors. All rights reserved.
"""The pretrained stand-in for CLIP: one cached image-text contrastive pretraining run.

Every method on the medium synthetic benchmark fine-tunes from this checkpoint, as every
method in the papers fine-tunes a pretrained CLIP (docs/evidence.md). The run is reproducible
(its config fixes data, model, schedule and seed) and cached: ``<out_dir>/standin.pth`` with
``standin_meta.json`` next to it; a second call whose config hash matches reuses the file.
"""

import hashlib
import json
import os
import os.path as osp
import shutil
from typing import Dict, Optional

import torch
from mmengine.config import Config
from mmengine.logging import print_log

from tpr_mm.engine.runner.checkpoint import resolve_checkpoint
from tpr_mm.fileio import atomic_write_text, safe_torch_load
from tpr_mm.registry import RUNNERS

from .prepare_data import prepare_data

CHECKPOINT = 'standin.pth'
# Retrievers whose CLIP is ``image_backbone`` (CFine) load this copy with renamed keys.
CHECKPOINT_IMAGE_BACKBONE = 'standin_image_backbone.pth'
META = 'standin_meta.json'
RUN_MARKER = '.tpr_mm_standin_run'  # written into the training folder before training


def standin_fingerprint(cfg: Config) -> str:
    """SHA-256 of everything that determines the stand-in (config minus its folders)."""
    d = cfg.to_dict()
    for key in ('work_dir', 'experiment_name', 'load_from', 'resume'):
        d.pop(key, None)
    text = json.dumps(d, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def read_standin_meta(out_dir: str) -> Optional[dict]:
    """``standin_meta.json`` of ``out_dir``, or ``None`` when absent or unreadable."""
    path = osp.join(out_dir, META)
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def make_pretrained_standin(cfg: Config, out_dir: str, force: bool = False) -> Dict[str, str]:
    """Pretrain once with ``cfg`` (ITC, no identity labels) and cache the checkpoint.

    Args:
        cfg (Config): The pretraining config (``configs/clip_itc_pretrain_standin.py``).
        out_dir (str): Folder of ``standin.pth``, ``standin_meta.json`` and the run's work dir.
        force (bool): Retrain even when a matching checkpoint exists.

    Returns:
        dict: ``{'checkpoint': path, 'reused': 'yes'|'no', 'fingerprint': sha}``.

    Raises:
        ValueError: the training set keeps identity labels (the stand-in must not see them).
    """
    train_set = cfg.train_dataloader.dataset
    if train_set.get('identity', 'keep') != 'drop':
        raise ValueError(
            f"{cfg.filename}: train_dataloader.dataset.identity must be 'drop' for the "
            f'stand-in (image-text pairs only), got {train_set.get("identity", "keep")!r}'
        )
    fingerprint = standin_fingerprint(cfg)
    ckpt_path = osp.join(out_dir, CHECKPOINT)
    meta = read_standin_meta(out_dir)
    if (
        not force
        and meta is not None
        and meta.get('fingerprint') == fingerprint
        and osp.isfile(ckpt_path)
    ):
        print_log(f'reusing the pretrained stand-in {ckpt_path}', logger='current')
        return dict(checkpoint=ckpt_path, reused='yes', fingerprint=fingerprint)
    os.makedirs(out_dir, exist_ok=True)
    run_cfg = cfg.copy()
    run_cfg.work_dir = osp.join(out_dir, 'run')
    # The training folder is ours when our marker is in it: a retraining replaces it.
    # Another folder is never marked (nor replaced): the checkpoint hook refuses it.
    if osp.isfile(osp.join(run_cfg.work_dir, RUN_MARKER)):
        shutil.rmtree(run_cfg.work_dir)
    if not osp.exists(run_cfg.work_dir):
        os.makedirs(run_cfg.work_dir)
        atomic_write_text(fingerprint + '\n', osp.join(run_cfg.work_dir, RUN_MARKER))
    runner = RUNNERS.build(run_cfg)
    prepare_data(run_cfg)
    runner.train()
    # Selected on the corpus' own val split (its identities are in no benchmark).
    source = resolve_checkpoint(run_cfg.work_dir, prefer='best')
    tmp = ckpt_path + '.tmp'
    shutil.copyfile(source, tmp)
    os.replace(tmp, ckpt_path)
    rename_backbone_keys(ckpt_path, osp.join(out_dir, CHECKPOINT_IMAGE_BACKBONE))
    meta = dict(
        fingerprint=fingerprint,
        config=cfg.filename,
        source_checkpoint=osp.relpath(source, out_dir),
        corpus={k: v for k, v in train_set.items() if k not in ('pipeline', 'type')},
        max_epochs=cfg.train_cfg.max_epochs,
        seed=cfg.get('randomness', {}).get('seed'),
    )
    atomic_write_text(json.dumps(meta, indent=2, default=str), osp.join(out_dir, META))
    print_log(f'wrote the pretrained stand-in {ckpt_path}', logger='current')
    return dict(checkpoint=ckpt_path, reused='no', fingerprint=fingerprint)


def rename_backbone_keys(src: str, dst: str, prefix: str = 'image_backbone.') -> None:
    """Write the weights of ``src`` with ``backbone.`` renamed to ``prefix`` (head dropped).

    Args:
        src (str): A checkpoint of a ``TextImageRetriever`` (CLIP under ``backbone``).
        dst (str): Output file, written atomically.
        prefix (str): New key prefix. Defaults to ``'image_backbone.'`` (CFine).
    """
    ckpt = safe_torch_load(src, map_location='cpu')
    state = ckpt.get('state_dict', ckpt)
    renamed = {
        prefix + k[len('backbone.') :]: v for k, v in state.items() if k.startswith('backbone.')
    }
    if not renamed:
        raise ValueError(f'{src}: no backbone.* weights to rename (keys: {list(state)[:3]})')
    tmp = dst + '.tmp'
    torch.save({'state_dict': renamed, 'meta': {'source': osp.basename(src)}}, tmp)
    os.replace(tmp, dst)


def zero_shot_test(eval_cfg: Config, checkpoint: str, work_dir: str) -> Dict[str, float]:
    """Test ``checkpoint`` without fine-tuning on ``eval_cfg``'s test split.

    Args:
        eval_cfg (Config): A config with the same backbone (e.g. ``clip_sdm_synthetic.py``).
        checkpoint (str): The stand-in checkpoint.
        work_dir (str): Where the test run writes its logs.

    Returns:
        dict: Test metrics (``t2i/R1``, ...).
    """
    cfg = eval_cfg.copy()
    cfg.work_dir = work_dir
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.train_dataloader = None
    cfg.train_cfg = None
    cfg.optim_wrapper = None
    cfg.param_scheduler = None
    cfg.val_dataloader = None
    cfg.val_cfg = None
    cfg.val_evaluator = None
    runner = RUNNERS.build(cfg)
    prepare_data(cfg)
    return runner.test()
