# Copyright (c) tpr_mm contributors. All rights reserved.
"""The clustering pass encodes every image once and gives the per-pair labels."""

import os
from types import SimpleNamespace

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

from tpr_mm.engine.hooks import PseudoLabelHook
from tpr_mm.registry import MODELS
from tpr_mm.testing.configs import TINY_CLUSTER_CFG, shrink_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
CLUSTER = dict(TINY_CLUSTER_CFG)


def _runner(tmp):
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'cpcl_synthetic.py'))
    cfg = shrink_config(cfg, os.path.join(tmp, 'work'), os.path.join(tmp, 'synthetic'))
    cfg.train_dataloader.num_workers = 1  # the hook must inherit it
    cfg.train_dataloader.persistent_workers = False
    init_default_scope('tpr_mm')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    return SimpleNamespace(
        model=model,
        cfg=cfg,
        epoch=0,
        iter=0,
        seed=0,
        train_dataloader=Runner.build_dataloader(cfg.train_dataloader, seed=0),
        build_dataloader=Runner.build_dataloader,
        logger=MMLogger.get_instance('views_test', log_level='WARNING'),
        visualizer=SimpleNamespace(add_scalars=lambda *args, **kwargs: None),
    )


def test_each_image_encoded_once_same_labels(tmp_path):
    runner = _runner(str(tmp_path))
    model = runner.model
    seen = []
    original = model.extract_img_feat

    def counting(img):
        seen.append(img.shape[0])
        return original(img)

    model.extract_img_feat = counting
    views = PseudoLabelHook(cluster_cfg=CLUSTER, progress=False, dataloader={'batch_size': 7})
    views.before_train_epoch(runner)
    train = runner.train_dataloader.dataset
    n_pairs, n_images = len(train), train.metainfo['num_images']
    assert n_pairs == 2 * n_images  # two captions per image: dedup halves the forwards
    assert sum(seen) == n_images
    assert views.encoder.loaders['image'].num_workers == 1
    yv, yt = model.head.img_pseudo_labels.clone(), model.head.txt_pseudo_labels.clone()

    # Reference: one image forward per pair (the previous behaviour).
    seen.clear()
    pairs = PseudoLabelHook(
        cluster_cfg=CLUSTER, progress=False, dataloader={'batch_size': 7}, unique_images=False
    )
    pairs.before_train_epoch(runner)
    assert sum(seen) == n_pairs
    assert torch.equal(model.head.img_pseudo_labels, yv)
    assert torch.equal(model.head.txt_pseudo_labels, yt)
    assert (yv >= 0).any() and (yt >= 0).any()
    img_v, txt_v = views.encode_train(model, runner)
    img_p, txt_p = pairs.encode_train(model, runner)
    np.testing.assert_allclose(img_v, img_p, rtol=0, atol=1e-5)
    np.testing.assert_allclose(txt_v, txt_p, rtol=0, atol=1e-5)
    # Both captions of an image carry the very same image feature.
    ids = np.array([train.get_data_info(i)['image_id'] for i in range(n_pairs)])
    first = np.unique(ids, return_index=True)[1]
    np.testing.assert_array_equal(img_v, img_v[first][np.searchsorted(ids[first], ids)])
