# Copyright (c) tpr_mm contributors. All rights reserved.
"""projects/example_custom_loss: the docs/extending.md tutorial, built and trained."""

import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from tpr_mm.registry import MODELS, RUNNERS
from tpr_mm.structures import RetrievalFeatures
from tpr_mm.testing.configs import shrink_config

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PROJECT = osp.join(ROOT, 'projects', 'example_custom_loss')
CONFIG = osp.join(PROJECT, 'configs', 'custom_loss_synthetic.py')
if PROJECT not in sys.path:
    sys.path.insert(0, PROJECT)  # what PYTHONPATH=projects/example_custom_loss does
from example_custom_loss import pair_alignment_loss  # noqa: E402


def test_loss_matches_naive_reference():
    from example_custom_loss import PairAlignmentLoss

    gen = torch.Generator().manual_seed(0)
    img, txt = torch.randn(7, 5, generator=gen), torch.randn(7, 5, generator=gen)
    expected = 0.0
    for v, t in zip(img.tolist(), txt.tolist()):
        dot = sum(a * b for a, b in zip(v, t))
        norm = sum(a * a for a in v) ** 0.5 * sum(b * b for b in t) ** 0.5
        expected += 1.0 - dot / norm
    loss = PairAlignmentLoss(loss_weight=0.5)(img, txt)
    assert torch.allclose(loss, torch.tensor(0.5 * expected / 7), atol=1e-6)
    assert PairAlignmentLoss()(img, img).abs().item() < 1e-6
    with pytest.raises(ValueError, match='same'):
        PairAlignmentLoss()(img, txt[:, :4])


def test_config_line_adds_the_loss_to_the_inherited_list():
    cfg = Config.fromfile(CONFIG)  # runs custom_imports
    assert cfg.custom_imports['imports'] == ['example_custom_loss']
    head_cfg = cfg.model.head
    assert head_cfg.type == 'GlobalMatchingHead'  # no custom head needed
    assert [loss.type for loss in head_cfg.losses] == ['SDMLoss', 'ITCLoss', 'PairAlignmentLoss']
    head = MODELS.build(head_cfg)
    img = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    samples = [{'pid': p} for p in (0, 0, 1, 2, 2, 3)]
    losses = head.loss(RetrievalFeatures(img, img.flip(0)), samples)
    assert set(losses) == {'loss_sdm', 'loss_itc', 'loss_align'}
    assert all(torch.isfinite(v) for v in losses.values())
    expected = 0.5 * pair_alignment_loss(img, img.flip(0))
    assert torch.allclose(losses['loss_align'], expected)


def test_duplicate_loss_name_is_rejected():
    with pytest.raises(ValueError, match='loss_align'):
        MODELS.build(
            dict(
                type='GlobalMatchingHead',
                losses=[{'type': 'PairAlignmentLoss'}, {'type': 'PairAlignmentLoss'}],
            )
        )


def test_trains_a_few_iterations(tmp_path):
    cfg = Config.fromfile(CONFIG)
    cfg = shrink_config(cfg, str(tmp_path / 'work'), str(tmp_path / 'synthetic'), max_epochs=1)
    cfg.experiment_name = 'example_custom_loss_test'
    runner = RUNNERS.build(cfg)
    head = runner.model.head
    assert [m.loss_name for m in head.loss_modules][-1] == 'loss_align'
    before = {k: v.detach().clone() for k, v in runner.model.backbone.state_dict().items()}
    runner.train()
    scalars = runner.message_hub.log_scalars
    assert 'train/loss_align' in scalars and 'train/loss_sdm' in scalars
    align = scalars['train/loss_align'].current()
    assert 0.0 <= align <= 0.5 * 2.0  # weight 0.5 times a cosine distance in [0, 2]
    after = runner.model.backbone.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    metrics = runner.val_loop.run()
    assert 0.0 <= metrics['t2i/R1'] <= 100.0


def test_tutorial_command_trains_through_tools_train(tmp_path):
    """The docs/extending.md command, on a shrunk copy of the project config."""
    cfg = shrink_config(
        Config.fromfile(CONFIG), str(tmp_path / 'work'), str(tmp_path / 'synthetic'), max_epochs=1
    )
    cfg_path = str(tmp_path / 'custom_loss_tiny.py')
    cfg.dump(cfg_path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PROJECT, ROOT]))
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), cfg_path],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert any(name.endswith('.pth') for name in os.listdir(tmp_path / 'work'))
