# Copyright (c) tpr_mm contributors. All rights reserved.
"""TSE layers against a loop re-statement of QinYang79/RDE model/CrossEmbeddingLayer_tse.py."""

import pytest
import torch

from tpr_mm.models.necks import TextTokenSelectionEmbedding, VisualTokenSelectionEmbedding
from tpr_mm.registry import MODELS


def _naive_bn(x, bn, training):
    if training:
        mean = x.mean(0)
        var = ((x - mean) ** 2).mean(0)  # biased, as BatchNorm normalises
    else:
        mean, var = bn.running_mean, bn.running_var
    return (x - mean) / torch.sqrt(var + bn.eps) * bn.weight + bn.bias


def _naive_embed(feats, linear, mlp, training):
    """feats: list over batch of (k, C) selected tokens -> list of (k, E)."""
    normed = [f / (f.pow(2).sum(-1, keepdim=True).sqrt() + 1e-8) for f in feats]
    flat = torch.cat(normed)  # BatchNorm statistics over all B*k tokens
    h = flat @ mlp.layers[0].weight.t() + mlp.layers[0].bias
    h = torch.relu(_naive_bn(h, mlp.bns[0], training))
    h = h @ mlp.layers[1].weight.t() + mlp.layers[1].bias
    out = h + flat @ linear.weight.t() + linear.bias
    k = feats[0].shape[0]
    return [out[b * k : (b + 1) * k] for b in range(len(feats))]


def _naive_visual(layer, tokens, atten, training):
    b, length, _ = tokens.shape
    k = int((length - 1) * layer.ratio)
    atten = atten.clone()
    atten[:, :, 0] = -1
    feats = []
    for i in range(b):
        order = sorted(range(length), key=lambda j: -atten[i, 0, j].item())[:k]
        feats.append(torch.stack([tokens[i, j] for j in order]))
    out = _naive_embed(feats, layer.fc, layer.mlp, training)
    return torch.stack([o.max(0).values for o in out])


def _naive_text(layer, tokens, text, atten, training):
    b, t, _ = tokens.shape
    k = int((t - 2) * layer.ratio)
    scores = torch.zeros(b, t, dtype=atten.dtype)
    for i in range(b):
        eot = int(text[i].argmax())
        for j in range(t):
            value = -1.0 if j in (0, eot) else atten[i, eot, j].item()
            scores[i, j] = value * (text[i, j] != 0)
    # RDE ranks with one topk over the (B, T) matrix; padding ties (score 0) are broken by
    # topk itself, and which padding tokens are picked changes the BatchNorm statistics.
    order = scores.float().topk(k, dim=-1).indices
    feats, lengths = [], []
    for i in range(b):
        feats.append(torch.stack([tokens[i, j] for j in order[i].tolist()]))
        lengths.append(min(int((text[i] != 0).sum()) - 2, k))
    out = _naive_embed(feats, layer.linear, layer.mlp, training)
    return torch.stack([o[:n].max(0).values for o, n in zip(out, lengths)])


def _attention(b, length, g, causal=False):
    logits = torch.randn(b, length, length, generator=g, dtype=torch.float64)
    if causal:
        logits = logits.masked_fill(torch.ones(length, length).triu(1).bool(), float('-inf'))
    return logits.softmax(-1)


@pytest.mark.parametrize('training', [True, False])
def test_visual_tse_matches_naive(training):
    g = torch.Generator().manual_seed(0)
    layer = MODELS.build(
        dict(type='VisualTokenSelectionEmbedding', in_channels=8, embed_dim=12, ratio=0.3)
    ).double()
    assert isinstance(layer, VisualTokenSelectionEmbedding)
    layer.mlp.bns[0].running_mean.normal_(generator=g)
    layer.train(training)
    tokens = torch.randn(4, 1 + 24, 8, generator=g, dtype=torch.float64)
    atten = _attention(4, 25, g)
    got = layer(tokens, atten)
    want = _naive_visual(layer, tokens, atten, training)
    assert got.shape == (4, 12)
    assert torch.allclose(got, want, atol=1e-10)
    assert not hasattr(layer, 'linear')  # RDE's unused VisualEmbeddingLayer.linear


def _captions(lengths, t, g):
    """Ids: SOT, words (1..49404), EOT (49407), zero padding."""
    text = torch.zeros(len(lengths), t, dtype=torch.long)
    for i, n in enumerate(lengths):
        text[i, 0] = 49406
        text[i, 1 : 1 + n] = torch.randint(1, 49405, (n,), generator=g)
        text[i, 1 + n] = 49407
    return text


@pytest.mark.parametrize('training', [True, False])
def test_text_tse_matches_naive(training):
    g = torch.Generator().manual_seed(1)
    t = 30  # k = int(28 * 0.3) = 8; captions shorter and longer than k
    layer = MODELS.build(
        dict(type='TextTokenSelectionEmbedding', in_channels=8, embed_dim=12, ratio=0.3)
    ).double()
    assert isinstance(layer, TextTokenSelectionEmbedding)
    layer.train(training)
    text = _captions([20, 3, 8, 1, 27], t, g)
    tokens = torch.randn(5, t, 8, generator=g, dtype=torch.float64)
    atten = _attention(5, t, g, causal=True)
    got = layer(tokens, text, atten)
    want = _naive_text(layer, tokens, text, atten, training)
    assert got.shape == (5, 12)
    assert torch.allclose(got, want, atol=1e-10)


def test_text_tse_pools_words_only_and_handles_empty_caption():
    g = torch.Generator().manual_seed(2)
    layer = TextTokenSelectionEmbedding(in_channels=4, embed_dim=6, ratio=0.5).eval()
    text = _captions([2, 0], 12, g)  # the second caption has no word (RDE: NaN)
    tokens = torch.randn(2, 12, 4, generator=g)
    atten = _attention(2, 12, g, causal=True).float()
    out = layer(tokens, text, atten)
    assert torch.isfinite(out).all()
    # Caption 0: exactly its two words (positions 1, 2) are pooled, whatever the padding holds.
    tokens2 = tokens.clone()
    tokens2[0, 4:] = 100.0
    assert torch.allclose(layer(tokens2, text, atten)[0], out[0])


def test_too_few_tokens_raise():
    layer = VisualTokenSelectionEmbedding(in_channels=4, embed_dim=6, ratio=0.1)
    with pytest.raises(ValueError, match='selects no token'):
        layer(torch.randn(2, 5, 4), torch.rand(2, 5, 5))
