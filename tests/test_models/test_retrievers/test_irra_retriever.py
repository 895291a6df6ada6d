# Copyright (c) tpr_mm contributors. All rights reserved.
"""IRRARetriever: one text forward when aliased equals the reference's two; predict = towers."""

import pytest
import torch
import torch.nn.functional as F

from tpr_mm.models.heads import GlobalMatchingHead
from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures, TextReIDDataSample
from tpr_mm.testing.configs import tiny_model_cfg

D, V = 32, 49408


def _model():
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='IRRARetriever',
            backbone=dict(
                type='OpenCLIPBackbone',
                pretrained=None,
                img_size=(32, 16),
                context_length=24,
                model_cfg=tiny_model_cfg((32, 16), 24),
            ),
            head=dict(
                type='IRRAHead',
                losses=[
                    dict(type='SDMLoss', temperature=0.02),
                    dict(type='IDLoss', in_channels=D, num_classes=4),
                ],
                irr=dict(type='IRREncoder', embed_dims=D, num_layers=2, num_heads=2),
                mlm_head=dict(
                    type='MLMPredictionHead', embed_dims=D, vocab_size=V, encoder_layers=2
                ),
            ),
        )
    )


def _batch(n=5):
    g = torch.Generator().manual_seed(1)
    text = torch.randint(1, 40000, (n, 24), generator=g)
    for i in range(n):
        text[i, 0], text[i, 8 + i], text[i, 9 + i :] = 49406, 49407, 0
    labels = torch.zeros_like(text)
    mlm = text.clone()
    for i in range(n):
        labels[i, 2], labels[i, 4] = text[i, 2], text[i, 4]
        mlm[i, 2] = 49405
    samples = []
    for p in (0, 1, 1, 2, 3)[:n]:
        s = TextReIDDataSample()
        s.set_field(p, 'pid', field_type='metainfo')
        samples.append(s)
    return torch.randn(n, 3, 32, 16, generator=g), text, mlm, labels, samples


def _reference_losses(model, img, text, mlm, labels, samples):
    """IRRA.forward (anosorae/IRRA:model/build.py): global branch on `text`, a second text
    forward on `mlm` for the MLM branch, CE over all positions with ignore_index 0."""
    bb, head = model.backbone, model.head
    img_out = bb.encode_image(img, return_tokens=True)
    t_global = bb.encode_text(text)['global']
    out = GlobalMatchingHead.loss(head, RetrievalFeatures(img_out['global'], t_global), samples)
    mlm_tokens = bb.encode_text(mlm, return_tokens=True)['tokens']
    scores = head.mlm_head(head.irr(mlm_tokens, img_out['tokens'])).reshape(-1, V)
    out['loss_mlm'] = F.cross_entropy(scores, labels.reshape(-1), ignore_index=0)
    return out


@pytest.mark.parametrize('aliased', [True, False])
def test_loss_and_gradients_equal_reference(aliased):
    model = _model()
    img, text, mlm, labels, samples = _batch()
    if aliased:  # published: SDM/ID see the masked caption
        text = mlm.clone()
    inputs = dict(img=img, text=text, mlm_text=mlm, mlm_labels=labels)
    ours = model(inputs, samples, mode='loss')
    ref = _reference_losses(model, img, text, mlm, labels, samples)
    assert {'loss_sdm', 'loss_id', 'loss_mlm'} <= set(ours)
    params = [p for p in model.parameters() if p.requires_grad]
    total_ours = sum(v for k, v in ours.items() if 'loss' in k)
    total_ref = sum(v for k, v in ref.items() if 'loss' in k)
    torch.testing.assert_close(total_ours, total_ref, rtol=1e-5, atol=1e-5)
    g_ours = torch.autograd.grad(total_ours, params, allow_unused=True)
    g_ref = torch.autograd.grad(total_ref, params, allow_unused=True)
    for a, b in zip(g_ours, g_ref):
        assert (a is None) == (b is None)
        if a is not None:
            # float32, default threads: the two paths sum in different orders; a few gradient
            # elements then differ by up to ~4e-5 absolute (seen with 2 threads).
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-4)


def test_text_forwards_counted():
    model = _model()
    img, text, mlm, labels, samples = _batch()
    calls = []
    orig = model.backbone.encode_text
    model.backbone.encode_text = lambda *a, **k: calls.append(1) or orig(*a, **k)
    model(dict(img=img, text=mlm, mlm_text=mlm, mlm_labels=labels), samples, mode='loss')
    assert len(calls) == 1
    model(dict(img=img, text=text, mlm_text=mlm, mlm_labels=labels), samples, mode='loss')
    assert len(calls) == 3


def test_predict_runs_only_the_towers():
    model = _model().eval()
    img, text, _, _, samples = _batch()
    ran = []
    for name, module in model.head.named_modules():
        module.register_forward_hook(lambda *a, name=name: ran.append(name))
    with torch.no_grad():
        out = model.predict(dict(img=img, text=text), samples)
        feats = model(dict(img=img, text=text), mode='tensor')
    assert ran == []
    torch.testing.assert_close(out[0].img_feat, model.backbone.encode_image(img)['global'][0])
    torch.testing.assert_close(feats['text_feats'], model.backbone.encode_text(text)['global'])


def test_missing_masked_inputs_named():
    model = _model()
    img, text, _, _, samples = _batch()
    with pytest.raises(ValueError, match='MaskCaptionTokens'):
        model(dict(img=img, text=text), samples, mode='loss')
