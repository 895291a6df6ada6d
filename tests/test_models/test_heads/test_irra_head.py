# Copyright (c) tpr_mm contributors. All rights reserved.
"""IRRAHead: SDM + ID + MLM, and its masked-positions-only MLM equal to the reference's."""

import pytest
import torch
import torch.nn.functional as F

from tpr_mm.models.losses import id_loss, sdm_loss
from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures, TextReIDDataSample

D, V, T, L = 32, 60, 9, 5


def _head():
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='IRRAHead',
            losses=[
                dict(type='SDMLoss', temperature=0.02),
                dict(type='IDLoss', in_channels=D, num_classes=4),
            ],
            irr=dict(type='IRREncoder', embed_dims=D, num_layers=2, num_heads=2),
            mlm_head=dict(type='MLMPredictionHead', embed_dims=D, vocab_size=V, encoder_layers=2),
            mlm_loss=dict(type='MLMLoss'),
        )
    )


def _inputs(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(1, V, (n, T), generator=g)
    labels[torch.rand(n, T, generator=g) < 0.75] = 0
    labels[:, 1] = torch.where(labels.any(1), labels[:, 1], torch.full((n,), 7))
    samples = []
    for p in (0, 1, 1, 2, 3, 3)[:n]:
        s = TextReIDDataSample()
        s.set_field(p, 'pid', field_type='metainfo')
        samples.append(s)
    feats = [torch.randn(n, D, generator=g) for _ in range(2)]
    tokens = [torch.randn(n, T, D, generator=g), torch.randn(n, L, D, generator=g)]
    return feats, tokens, labels, samples


def test_losses_equal_reference():
    head = _head()
    (img, txt), (mlm_tok, img_tok), labels, samples = _inputs()
    mlm_tok.requires_grad_(True)
    feats = RetrievalFeatures(img, txt, img_tokens=img_tok, mlm_tokens=mlm_tok, mlm_labels=labels)
    out = head.loss(feats, samples)
    assert set(out) == {'loss_sdm', 'loss_id', 'loss_mlm', 'acc_mlm'}
    pids = torch.tensor([0, 1, 1, 2, 3, 3])
    assert torch.allclose(out['loss_sdm'], sdm_loss(img, txt, pids, 0.02))
    clf = head.losses[1].classifier
    assert torch.allclose(out['loss_id'], id_loss(clf(img), clf(txt), pids))
    # Reference (anosorae/IRRA:model/build.py): score every position, CE with ignore_index=0.
    scores = head.mlm_head(head.irr(mlm_tok, img_tok)).reshape(-1, V)
    ref = F.cross_entropy(scores, labels.reshape(-1), ignore_index=0)
    torch.testing.assert_close(out['loss_mlm'], ref)
    keep = labels.reshape(-1) != 0
    acc = (scores.argmax(1)[keep] == labels.reshape(-1)[keep]).float().mean()
    torch.testing.assert_close(out['acc_mlm'], acc)
    # Same gradients for every parameter and the caption tokens.
    params = [mlm_tok] + list(head.irr.parameters()) + list(head.mlm_head.parameters())
    g_ours = torch.autograd.grad(out['loss_mlm'], params)
    g_ref = torch.autograd.grad(ref, params)
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


def test_parameter_names_match_irra_optimiser_rules():
    names = [n for n, _ in _head().named_parameters()]
    assert any(n.startswith('irr.cross_attn') for n in names)
    assert any(n.startswith('irr.cross_modal_transformer') for n in names)
    assert all('mlm_head' in n for n in names if n.startswith('mlm_head'))
    assert any('classifier' in n for n in names)
    # The encoder's three LayerNorms match no 'cross' rule, as in the reference.
    assert {n for n in names if 'ln_p' in n} == {
        f'irr.{m}.{p}' for m in ('ln_pre_t', 'ln_pre_i', 'ln_post') for p in ('weight', 'bias')
    }


def test_missing_mlm_inputs_and_bad_shapes():
    head = _head()
    (img, txt), (mlm_tok, img_tok), labels, samples = _inputs()
    with pytest.raises(ValueError, match='MaskCaptionTokens'):
        head.loss(RetrievalFeatures(img, txt), samples)
    with pytest.raises(ValueError, match='do not match'):
        feats = RetrievalFeatures(
            img, txt, img_tokens=img_tok, mlm_tokens=mlm_tok, mlm_labels=labels[:, :4]
        )
        head.loss(feats, samples)
    with pytest.raises(ValueError, match='unique'):
        MODELS.build(
            dict(
                type='IRRAHead',
                losses=[dict(type='SDMLoss', loss_name='loss_mlm')],
                irr=dict(type='IRREncoder', embed_dims=D, num_layers=1, num_heads=2),
                mlm_head=dict(type='MLMPredictionHead', embed_dims=D, vocab_size=V),
            )
        )
