# Copyright (c) tpr_mm contributors. All rights reserved.
"""Tiny, fast variants of real configs for tests and smoke runs."""

import copy
import os.path as osp
from typing import Optional, Tuple

from mmengine.config import Config

from tpr_mm.apis.prepare_data import prepare_data

# Clustering that finds clusters among a tiny synthetic set's pairs (6 per identity) with a
# random one-layer CLIP; the published k1=30 / eps=0.6 would merge them all.
TINY_CLUSTER_CFG = dict(k1=6, k2=3, eps=0.5, min_samples=2)

TINY_SYNTHETIC = dict(
    num_train_ids=10,
    num_val_ids=4,
    num_test_ids=4,
    images_per_id=3,
    captions_per_image=2,
    image_size=(64, 24),
    seed=0,
)


def tiny_model_cfg(
    img_size=(32, 16), context_length: int = 24, width: int = 32, layers: int = 1
) -> dict:
    """A small CLIP (by default one layer, 32 wide) that trains a few iterations in seconds."""
    return dict(
        embed_dim=width,
        vision_cfg=dict(
            image_size=tuple(img_size),
            patch_size=8,
            width=width,
            layers=layers,
            head_width=16,
            mlp_ratio=2.0,
        ),
        text_cfg=dict(
            context_length=context_length,
            vocab_size=49408,
            width=width,
            heads=max(2, width // 32),
            layers=layers,
            mlp_ratio=2.0,
        ),
    )


def shrink_config(
    cfg: Config,
    work_dir: str,
    data_root: str,
    max_epochs: int = 2,
    batch_size: int = 8,
    synthetic: Optional[dict] = None,
    img_size: Tuple[int, int] = (32, 16),
    context_length: int = 24,
    model_cfg: Optional[dict] = None,
) -> Config:
    """Make a synthetic-set config tiny: small data, small model, no workers.

    Every dataloader switches to ``data_root`` with :data:`TINY_SYNTHETIC`
    (or ``synthetic``) parameters; images are 32×16 and captions 24 tokens;
    the backbone becomes :func:`tiny_model_cfg`. The set is written (or
    reused) by the prepare step, :func:`tpr_mm.apis.prepare_data`; a caller
    that changes dataset parameters afterwards calls it again.

    Args:
        cfg (Config): A config whose datasets are ``SyntheticPEDES``.
        work_dir (str): Output folder.
        data_root (str): Where the tiny synthetic set lives (generated once).
        max_epochs (int): Training epochs. Defaults to 2.
        batch_size (int): Training batch size. Defaults to 8.
        synthetic (dict, optional): Generator parameters.
        img_size (tuple[int, int]): Input ``(H, W)``. Defaults to ``(32, 16)``.
        context_length (int): Caption tokens. Defaults to 24.
        model_cfg (dict, optional): open_clip model config; defaults to
            :func:`tiny_model_cfg` at ``img_size``/``context_length``.

    Returns:
        Config: the modified copy.
    """
    cfg = copy.deepcopy(cfg)
    params = dict(TINY_SYNTHETIC if synthetic is None else synthetic)
    img_size, ctx = tuple(img_size), context_length
    if model_cfg is None:
        model_cfg = tiny_model_cfg(img_size, ctx)
    cfg.work_dir = work_dir
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if not loader:
            continue
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.batch_size = batch_size if key == 'train_dataloader' else 16
        _shrink_dataset(loader.dataset, data_root, params, img_size, ctx)
    backbone = cfg.model.get('backbone')
    if backbone is not None and backbone.get('type') == 'OpenCLIPBackbone':
        backbone.update(
            img_size=img_size,
            context_length=ctx,
            pretrained=None,
            model_cfg=copy.deepcopy(model_cfg),
        )
    if cfg.get('train_cfg'):
        cfg.train_cfg.max_epochs = max_epochs
        if cfg.train_cfg.get('val_interval'):
            cfg.train_cfg.val_interval = 1
    for sched in cfg.get('param_scheduler') or []:
        # Keep the schedule's shape within the shortened run.
        if sched.get('end', 0) > max_epochs:
            sched['end'] = max_epochs
        if sched.get('begin', 0) >= max_epochs:
            sched['begin'] = max(0, max_epochs - 1)
        if 'T_max' in sched:
            sched['T_max'] = max(1, sched['end'] - sched['begin'])
    cfg.default_hooks.logger.interval = 1
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=0, deterministic=False)
    prepare_data(cfg)  # write the tiny set (rank 0) before anything builds a dataset
    return cfg


def _shrink_dataset(dataset: dict, data_root: str, params: dict, img_size, ctx) -> None:
    inner = dataset.get('dataset', dataset)  # dataset wrappers keep the real one inside
    if inner.get('type') == 'SyntheticPEDES':
        inner.update(data_root=osp.abspath(data_root), **params)
    for t in inner.get('pipeline', []):
        if t['type'] == 'Resize':
            t['scale'] = (img_size[1], img_size[0])  # MMCV's Resize takes (w, h)
        elif t['type'] == 'TokenizeCaption':
            t['context_length'] = ctx
        elif t['type'] == 'PadRandomCrop':
            t['padding'] = 2


# Learning tests (tests/test_learning): more identities than TINY_SYNTHETIC so that test Rank-1
# has a low chance level (1 / num_test_ids) and a small but two-layer CLIP that can learn it.
LEARNING_SYNTHETIC = dict(
    num_train_ids=24,
    num_val_ids=2,
    num_test_ids=10,
    images_per_id=3,
    captions_per_image=2,
    image_size=(64, 24),
    seed=0,
)
LEARNING_IMG_SIZE = (48, 16)
LEARNING_CONTEXT = 64


def learning_config(
    cfg: Config,
    work_dir: str,
    data_root: str,
    max_epochs: int = 20,
    batch_size: int = 8,
    width: int = 64,
    layers: int = 2,
    seed: int = 0,
) -> Config:
    """A real config shrunk for a learning test: data, model and epochs only.

    Losses, heads and hooks stay as shipped. Besides :func:`shrink_config`,
    CFine's image tower, neck and classifier follow the smaller width, the
    identity classifiers follow the train identity count, and validation runs
    only after the last epoch.

    Args:
        cfg (Config): A synthetic-set config.
        work_dir (str): Output folder.
        data_root (str): Where :data:`LEARNING_SYNTHETIC` is generated.
        max_epochs (int): Training epochs. Defaults to 20.
        batch_size (int): Training batch size. Defaults to 8.
        width (int): Width (and embedding size) of both towers. Defaults to 64.
        layers (int): Transformer layers of both towers. Defaults to 2.
        seed (int): Training seed. Defaults to 0.

    Returns:
        Config: the modified copy.
    """
    img_size, ctx = LEARNING_IMG_SIZE, LEARNING_CONTEXT
    model_cfg = tiny_model_cfg(img_size, ctx, width=width, layers=layers)
    clip = cfg.model.get('backbone') or cfg.model.get('image_backbone')
    old_width = clip['model_cfg']['embed_dim']
    cfg = shrink_config(
        cfg,
        work_dir,
        data_root,
        max_epochs=max_epochs,
        batch_size=batch_size,
        synthetic=LEARNING_SYNTHETIC,
        img_size=img_size,
        context_length=ctx,
        model_cfg=model_cfg,
    )
    model = cfg.model
    tower = dict(img_size=img_size, context_length=ctx, pretrained=None)
    if model.get('image_backbone') is not None:  # CFine: the CLIP tower sits elsewhere
        model.image_backbone.update(tower, model_cfg=copy.deepcopy(model_cfg))
    for key in ('neck', 'head'):  # widths and identity classifiers follow the smaller set-up
        if model.get(key) is not None:
            _follow(model[key], old_width, width, LEARNING_SYNTHETIC['num_train_ids'])
    if model.get('teacher') is not None:  # LCR²S student: the teacher has the student's towers
        model.teacher.backbone = copy.deepcopy(model.backbone)
    cfg.train_cfg.val_interval = max_epochs
    cfg.default_hooks.checkpoint.update(interval=max_epochs, max_keep_ckpts=1)
    cfg.randomness = dict(seed=seed, deterministic=False)
    return cfg


def _follow(node, old_width: int, width: int, num_classes: int) -> None:
    """Set ``embed_dims``/``in_channels`` equal to the old CLIP width, and ``num_classes``."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k in ('embed_dims', 'in_channels') and v == old_width:
                node[k] = width
            elif k == 'num_classes' and isinstance(v, int):
                node[k] = num_classes
            else:
                _follow(v, old_width, width, num_classes)
    elif isinstance(node, (list, tuple)):
        for v in node:
            _follow(v, old_width, width, num_classes)
