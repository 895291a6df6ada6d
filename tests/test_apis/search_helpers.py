# Copyright (c) tpr_mm contributors. All rights reserved.
"""Test helpers for search: a random-init tiny retriever saved as an MMEngine-style
checkpoint, and small coloured pedestrian-like images."""

import os.path as osp

import numpy as np
import torch
from mmengine.config import Config
from PIL import Image

from tpr_mm.testing.configs import tiny_model_cfg

COLOURS = {
    'red': (215, 30, 35),
    'blue': (35, 75, 215),
    'green': (35, 150, 55),
    'yellow': (245, 215, 30),
    'black': (22, 22, 26),
}


def tiny_search_config(img_size=(32, 16), ctx=24) -> Config:
    """Model + test pipeline only: all the inferencer reads."""
    pipeline = [
        dict(type='LoadPersonImage'),
        dict(type='Resize', scale=img_size[::-1], backend='pillow'),
        dict(type='TokenizeCaption', context_length=ctx),
        dict(type='PackTextReIDInputs'),
    ]
    return Config(
        dict(
            default_scope='tpr_mm',
            model=dict(
                type='TextImageRetriever',
                data_preprocessor=dict(type='TextReIDDataPreprocessor'),
                backbone=dict(
                    type='OpenCLIPBackbone',
                    pretrained=None,
                    img_size=img_size,
                    context_length=ctx,
                    model_cfg=tiny_model_cfg(img_size, ctx),
                ),
                head=dict(type='GlobalMatchingHead', losses=[dict(type='SDMLoss')]),
            ),
            test_dataloader=dict(dataset=dict(type='SyntheticPEDES', pipeline=pipeline)),
        )
    )


def save_tiny_checkpoint(cfg: Config, path: str, seed: int) -> str:
    """Random-init weights for ``cfg.model`` in MMEngine's checkpoint layout."""
    from mmengine.registry import init_default_scope

    from tpr_mm.registry import MODELS

    init_default_scope('tpr_mm')
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    meta = dict(epoch=1, iter=10, seed=seed, hist=np.arange(3.0))
    torch.save(dict(meta=meta, state_dict=model.state_dict()), path)
    return path


def write_person_images(folder: str, n: int, seed: int = 0, size=(48, 20)) -> list:
    """``n`` striped, noisy pedestrian-like PNGs named after their top colour."""
    rng = np.random.default_rng(seed)
    names, paths = list(COLOURS), []
    for i in range(n):
        top, bottom = names[i % len(names)], names[(i * 3 + 1) % len(names)]
        img = rng.integers(90, 160, (size[0], size[1], 3)).astype(np.uint8)
        img[size[0] // 6 : size[0] // 2, 3:-3] = COLOURS[top]
        img[size[0] // 2 : -3, 4:-4] = COLOURS[bottom]
        path = osp.join(folder, f'{i:03d}_{top}.png')
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths


def make_tiny_model(root: str) -> tuple:
    """Write ``tiny_search.py`` and two checkpoints (seeds 1, 2) into ``root``.

    Returns:
        tuple: (config path, checkpoint A, checkpoint B): same config,
        different weights.
    """
    cfg = tiny_search_config()
    cfg_path = osp.join(root, 'tiny_search.py')
    cfg.dump(cfg_path)
    return (
        cfg_path,
        save_tiny_checkpoint(cfg, osp.join(root, 'a.pth'), seed=1),
        save_tiny_checkpoint(cfg, osp.join(root, 'b.pth'), seed=2),
    )
