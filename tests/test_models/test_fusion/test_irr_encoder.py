# Copyright (c) tpr_mm contributors. All rights reserved.
"""IRRA's cross-modal encoder and MLM head against plain re-statements of the public code."""

import math
from collections import OrderedDict

import pytest
import torch
import torch.nn as nn

from tpr_mm.registry import MODELS


def _ln(x, mod):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + mod.eps) * mod.weight + mod.bias


def _quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def _mha(q_in, kv_in, mha):
    """Multi-head attention written out with loops over samples and heads."""
    d, h = mha.embed_dim, mha.num_heads
    hd = d // h
    w, b = mha.in_proj_weight, mha.in_proj_bias
    out = torch.zeros(q_in.shape[0], q_in.shape[1], d, dtype=q_in.dtype)
    for n in range(q_in.shape[0]):
        q = q_in[n] @ w[:d].t() + b[:d]
        k = kv_in[n] @ w[d : 2 * d].t() + b[d : 2 * d]
        v = kv_in[n] @ w[2 * d :].t() + b[2 * d :]
        heads = []
        for j in range(h):
            sl = slice(j * hd, (j + 1) * hd)
            att = torch.softmax(q[:, sl] @ k[:, sl].t() / math.sqrt(hd), dim=-1)
            heads.append(att @ v[:, sl])
        out[n] = torch.cat(heads, dim=1) @ mha.out_proj.weight.t() + mha.out_proj.bias
    return out


def reference_encoder(text, image, enc):
    """IRRA.cross_former (anosorae/IRRA:model/build.py) with CLIP blocks, written out."""
    kv = _ln(image, enc.ln_pre_i)
    x = _mha(_ln(text, enc.ln_pre_t), kv, enc.cross_attn)
    for blk in enc.cross_modal_transformer:
        y = _ln(x, blk.ln_1)
        x = x + _mha(y, y, blk.attn)
        y = _ln(x, blk.ln_2)
        hidden = _quick_gelu(y @ blk.mlp.c_fc.weight.t() + blk.mlp.c_fc.bias)
        x = x + hidden @ blk.mlp.c_proj.weight.t() + blk.mlp.c_proj.bias
    return _ln(x, enc.ln_post)


def reference_build(width, layers, vocab, seed):
    """Parameters as IRRA builds them: module creation, then its normal_ inits, in its order."""
    torch.manual_seed(seed)
    heads = width // 64
    cross_attn = nn.MultiheadAttention(width, heads, batch_first=True)
    blocks = []
    for _ in range(layers):
        attn = nn.MultiheadAttention(width, heads)
        ln_1 = nn.LayerNorm(width)
        c_fc, c_proj = nn.Linear(width, width * 4), nn.Linear(width * 4, width)
        ln_2 = nn.LayerNorm(width)
        blocks.append((attn, ln_1, c_fc, c_proj, ln_2))
    lns = [nn.LayerNorm(width) for _ in range(3)]
    scale = width**-0.5
    proj_std, attn_std, fc_std = scale * (2 * layers) ** -0.5, scale, (2 * width) ** -0.5
    for attn, _, c_fc, c_proj, _ in blocks:
        nn.init.normal_(attn.in_proj_weight, std=attn_std)
        nn.init.normal_(attn.out_proj.weight, std=proj_std)
        nn.init.normal_(c_fc.weight, std=fc_std)
        nn.init.normal_(c_proj.weight, std=proj_std)
    nn.init.normal_(cross_attn.in_proj_weight, std=attn_std)
    nn.init.normal_(cross_attn.out_proj.weight, std=proj_std)
    head = nn.Sequential(
        OrderedDict(
            [
                ('dense', nn.Linear(width, width)),
                ('ln', nn.LayerNorm(width)),
                ('fc', nn.Linear(width, vocab)),
            ]
        )
    )
    nn.init.normal_(head.dense.weight, std=fc_std)
    nn.init.normal_(head.fc.weight, std=proj_std)
    flat = list(cross_attn.parameters())
    for attn, ln_1, c_fc, c_proj, ln_2 in blocks:
        for m in (attn, ln_1, c_fc, c_proj, ln_2):
            flat += list(m.parameters())
    for m in lns:
        flat += list(m.parameters())
    return flat, list(head.parameters())


def _build(width=128, layers=4, vocab=300, seed=0):
    torch.manual_seed(seed)
    enc = MODELS.build(dict(type='IRREncoder', embed_dims=width, num_layers=layers))
    head = MODELS.build(
        dict(type='MLMPredictionHead', embed_dims=width, vocab_size=vocab, encoder_layers=layers)
    )
    return enc, head


@pytest.mark.parametrize('seed', [0, 1])
def test_init_equals_reference_draw_for_draw(seed):
    enc, head = _build(seed=seed)
    ref_enc, ref_head = reference_build(128, 4, 300, seed)
    ours = list(enc.parameters())
    assert len(ours) == len(ref_enc)
    for a, b in zip(ours, ref_enc):
        assert a.shape == b.shape and torch.equal(a, b)
    for a, b in zip(head.parameters(), ref_head):
        assert a.shape == b.shape and torch.equal(a, b)
    assert enc.num_heads == 2  # embed_dims // 64, as the reference


def test_forward_equals_written_out_reference():
    enc, head = _build(width=64, layers=2, vocab=50, seed=3)
    text, image = torch.randn(3, 7, 64), torch.randn(3, 11, 64)
    with torch.no_grad():
        for p in enc.parameters():  # non-default values so every bias and LayerNorm counts
            p.add_(0.05 * torch.randn_like(p))
        fused = enc(text, image)
        torch.testing.assert_close(fused, reference_encoder(text, image, enc), atol=1e-5, rtol=1e-4)
        h = head
        ref = _quick_gelu(fused @ h.dense.weight.t() + h.dense.bias)
        ref = _ln(ref, h.ln) @ h.fc.weight.t() + h.fc.bias
        torch.testing.assert_close(head(fused), ref, atol=1e-5, rtol=1e-4)
    assert head(fused).shape == (3, 7, 50)


def test_full_size_parameter_counts():
    """At IRRA's size: cross-attention 1.05 M, 4 blocks 12.6 M, MLM head 25.6 M."""
    enc, head = _build(width=512, layers=4, vocab=49408)
    n_cross = sum(p.numel() for p in enc.cross_attn.parameters())
    n_blocks = sum(p.numel() for p in enc.cross_modal_transformer.parameters())
    assert n_cross == 4 * 512 * 512 + 4 * 512  # 1,050,624
    assert n_blocks == 4 * (12 * 512 * 512 + 13 * 512)  # 12.6 M
    assert sum(p.numel() for p in head.parameters()) == 512 * 513 + 2 * 512 + 513 * 49408
    assert enc.num_heads == 8
    names = [n for n, _ in enc.named_parameters()]
    assert all('cross' in n for n in names if not n.startswith('ln_'))
    assert not any('cross' in n for n in names if n.startswith('ln_'))


def test_bad_shapes_named():
    enc, _ = _build(width=64, layers=1)
    with pytest.raises(ValueError, match='embed_dims=64'):
        enc(torch.randn(2, 5, 32), torch.randn(2, 9, 64))
    with pytest.raises(ValueError, match='not divisible'):
        MODELS.build(dict(type='IRREncoder', embed_dims=64, num_heads=5))
