# Copyright (c) tpr_mm contributors. All rights reserved.
"""RDERetriever + RDEHead: BGE/TSE encoding, BGE+TSE retrieval score, division-weighted TAL."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tpr_mm.models.heads import RDEHead
from tpr_mm.models.losses import tal_per_sample
from tpr_mm.models.retrievers import RDERetriever
from tpr_mm.registry import MODELS
from tpr_mm.structures import TextReIDDataSample
from tpr_mm.testing.configs import tiny_model_cfg

SOT, EOT = 49406, 49407


def _model(**kw):
    cfg = dict(
        type='RDERetriever',
        backbone=dict(
            type='OpenCLIPBackbone',
            pretrained=None,
            img_size=(32, 16),
            context_length=24,
            model_cfg=tiny_model_cfg((32, 16), 24),
        ),
        visual_tse=dict(type='VisualTokenSelectionEmbedding', embed_dim=48, ratio=0.5),
        text_tse=dict(type='TextTokenSelectionEmbedding', embed_dim=48, ratio=0.3),
        head=dict(
            type='RDEHead',
            bge_loss=dict(type='TALLoss', tau=0.1, margin=0.2, loss_name='loss_bge'),
            tse_loss=dict(type='TALLoss', tau=0.1, margin=0.2, loss_name='loss_tse'),
        ),
    )
    cfg.update(kw)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def _batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(n, 3, 32, 16, generator=g)
    text = torch.zeros(n, 24, dtype=torch.long)
    for i in range(n):
        m = 3 + i
        text[i, 0], text[i, 1 : m + 1], text[i, m + 1] = (
            SOT,
            torch.randint(1, 400, (m,), generator=g),
            EOT,
        )
    samples = [TextReIDDataSample(metainfo=dict(pid=i // 2, sample_idx=i)) for i in range(n)]
    return {'img': img, 'text': text}, samples


def test_encodings_and_bge_is_clips_global_feature():
    model = _model().eval()
    assert isinstance(model, RDERetriever) and isinstance(model.head, RDEHead)
    assert model.visual_tse.in_channels == 32  # taken from the backbone
    inputs, _ = _batch()
    with torch.no_grad():
        img, txt = model.encode_image(inputs['img']), model.encode_text(inputs['text'])
        clip = model.backbone.clip
        assert torch.allclose(img['bge'], clip.encode_image(inputs['img']), atol=1e-5)
        assert torch.allclose(txt['bge'], clip.encode_text(inputs['text']), atol=1e-5)
    assert img['tse'].shape == txt['tse'].shape == (6, 48)


@pytest.mark.parametrize('w', [0.5, 0.2])
def test_retrieval_feature_scores_the_weighted_sum_of_similarities(w):
    model = _model(bge_weight=w).eval()
    inputs, samples = _batch()
    with torch.no_grad():
        feats = model.extract_feat(inputs)
        img, txt = model.encode_image(inputs['img']), model.encode_text(inputs['text'])
        out = model.predict(inputs, samples)
    s = {k: F.normalize(txt[k], dim=1) @ F.normalize(img[k], dim=1).t() for k in ('bge', 'tse')}
    want = w * s['bge'] + (1 - w) * s['tse']  # RDE's BGE+TSE row at w = 0.5
    assert torch.allclose(feats['text_feats'] @ feats['img_feats'].t(), want, atol=1e-5)
    assert torch.allclose(feats['img_feats'].norm(dim=1), torch.ones(6), atol=1e-5)
    assert feats['img_feats'].shape == (6, 32 + 48)
    stored = (
        torch.stack([o.text_feat_tse for o in out]) @ torch.stack([o.img_feat_tse for o in out]).t()
    )
    assert torch.allclose(stored, s['tse'], atol=1e-5)
    assert torch.allclose(torch.stack([o.img_feat for o in out]), feats['img_feats'], atol=1e-6)


def test_loss_is_division_weighted_tal_of_both_embeddings():
    model = _model().train()
    inputs, samples = _batch()
    with pytest.raises(RuntimeError, match='ConsensusDivisionHook'):
        model.loss(inputs, samples)
    weights = np.array([1, 0, 1, 1, 0, 1], dtype=np.float32)
    model.head.set_division(weights[::-1].copy())  # looked up by sample_idx, not position
    samples = samples[::-1]
    inputs = {k: v.flip(0) for k, v in inputs.items()}
    torch.manual_seed(1)
    losses = model.loss(inputs, samples)
    assert set(losses) == {'loss_bge', 'loss_tse'}
    torch.manual_seed(1)
    img, txt = model.encode_image(inputs['img']), model.encode_text(inputs['text'])
    labels = torch.tensor([s.pid for s in samples])
    w = torch.tensor(weights)  # sample_idx 5..0 -> weights[::-1][5..0] = weights
    for key in ('bge', 'tse'):
        want = (w * tal_per_sample(img[key], txt[key], labels, 0.1, 0.2)).sum()
        assert losses[f'loss_{key}'].item() == pytest.approx(want.item(), rel=1e-5)
    losses['loss_bge'].backward()
    assert model.backbone.clip.visual.conv1.weight.grad is not None
    per = model.per_sample_losses(inputs, samples)
    assert per['bge'].shape == per['tse'].shape == (6,) and not per['bge'].requires_grad


def test_head_without_division_and_bad_indices():
    model = _model(
        head=dict(
            type='RDEHead',
            require_division=False,
            bge_loss=dict(type='TALLoss', loss_name='loss_bge'),
            tse_loss=dict(type='TALLoss', loss_name='loss_tse'),
        )
    )
    inputs, samples = _batch(4)
    assert set(model.loss(inputs, samples)) == {'loss_bge', 'loss_tse'}  # all pairs clean
    model.head.set_division(np.ones(3))
    with pytest.raises(IndexError, match='sample_idx'):
        model.loss(inputs, samples)
    with pytest.raises(ValueError, match='loss names must be unique'):
        RDEHead(bge_loss=dict(type='TALLoss'), tse_loss=dict(type='TALLoss'))


def test_division_is_saved_and_a_fresh_model_adopts_its_size():
    """Checkpoints carry the epoch's division (a mid-epoch resume keeps it); a fresh
    model holds none, and older checkpoints without it still load strictly."""
    model = _model()
    division = np.array([1, 0, 1, 1, 0], dtype=np.float32)
    model.head.set_division(division)
    state = model.state_dict()
    assert torch.equal(state['head.clean_weights'], torch.from_numpy(division))

    fresh = _model()
    assert not fresh.head.has_division and fresh.head.clean_weights.shape == (0,)
    fresh.load_state_dict(state, strict=True)  # (0,) -> (5,), no size-mismatch error
    assert torch.equal(fresh.head.clean_weights, torch.from_numpy(division))

    older = {k: v for k, v in state.items() if k != 'head.clean_weights'}
    again = _model()
    result = again.load_state_dict(older, strict=True)
    assert 'head.clean_weights' not in result.missing_keys and not again.head.has_division
    with pytest.raises(RuntimeError, match='Unexpected key'):
        again.load_state_dict(dict(state, extra=torch.zeros(1)), strict=True)  # still strict
