# Copyright (c) tpr_mm contributors. All rights reserved.
"""The evidence-matrix configs: each builds through the registry on the medium benchmark and
takes the pretrained stand-in's CLIP weights (loaded from a stand-in written here)."""

import glob
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tpr_mm.apis.pretrained_standin import rename_backbone_keys
from tpr_mm.datasets.synthetic.generator import _flatten, _normalize_params
from tpr_mm.registry import MODELS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EVIDENCE = sorted(glob.glob(os.path.join(ROOT, 'configs', 'evidence', '*.py')))
NAMES = [os.path.splitext(os.path.basename(p))[0] for p in EVIDENCE]


GENERATOR_KEYS = ('num_train_ids', 'num_val_ids', 'num_test_ids', 'images_per_id')
GENERATOR_KEYS += ('captions_per_image', 'image_size', 'seed', 'generator_options')


def _params(ds):
    return _normalize_params(**_flatten({k: v for k, v in ds.items() if k in GENERATOR_KEYS}))


@pytest.fixture(scope='module')
def standin(tmp_path_factory):
    """A stand-in checkpoint of the pretraining config's (untrained) model, and its CFine copy."""
    init_default_scope('tpr_mm')
    cfg = Config.fromfile(os.path.join(ROOT, 'configs', 'clip_itc_pretrain_standin.py'))
    model = MODELS.build(cfg.model)
    base = tmp_path_factory.mktemp('standin')
    path = str(base / 'standin.pth')
    torch.save({'state_dict': model.state_dict()}, path)
    rename_backbone_keys(path, str(base / 'standin_image_backbone.pth'))
    return base, model.state_dict()


def test_the_matrix_is_complete():
    assert len(NAMES) == 13
    for method in ('clip_sdm', 'clip_itc_weak', 'cpcl', 'cfine', 'lcr2s_teacher'):
        assert f'{method}_medium' in NAMES


@pytest.mark.parametrize('path', EVIDENCE, ids=NAMES)
def test_evidence_config_builds_on_medium_from_standin(path, standin, tmp_path):
    init_default_scope('tpr_mm')
    base, standin_state = standin
    cfg = Config.fromfile(path)
    medium = Config.fromfile(
        os.path.join(ROOT, 'configs/_base_/datasets/synthetic_medium_params.py')
    ).medium_dataset
    train = cfg.train_dataloader.dataset
    train = train.get('dataset', train) if train.type == 'SupportSetDataset' else train
    for ds in (train, cfg.val_dataloader.dataset, cfg.test_dataloader.dataset):
        assert ds.type == 'SyntheticPEDES' and ds.data_root == medium.data_root
        assert _params(ds) == _params(medium)
    assert cfg.train_cfg.max_epochs == 10
    assert os.path.basename(cfg.load_from).startswith('standin')
    if cfg.model.get('teacher') is not None:  # distil from a teacher checkpoint written here
        teacher = MODELS.build(cfg.model.teacher)
        cfg.model.teacher_checkpoint = str(tmp_path / 'teacher.pth')
        torch.save({'state_dict': teacher.state_dict()}, cfg.model.teacher_checkpoint)
    if cfg.model.type == 'CFineRetriever':
        assert cfg.model.head.losses.cmpc.num_classes == medium.num_train_ids
    model = MODELS.build(cfg.model)
    ckpt = torch.load(
        str(base / os.path.basename(cfg.load_from)), map_location='cpu', weights_only=True
    )['state_dict']
    own = model.state_dict()
    clip = [k for k in own if k.startswith(('backbone.', 'image_backbone.'))]
    assert clip and all(k in ckpt and ckpt[k].shape == own[k].shape for k in clip)
    missing, _ = model.load_state_dict(ckpt, strict=False)
    assert not set(clip) & set(missing)
    key = clip[0]
    src = key.replace('image_backbone.', 'backbone.', 1)
    assert torch.equal(model.state_dict()[key], standin_state[src])
