# Copyright (c) tpr_mm contributors. All rights reserved.
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tpr_mm.models.fusion import MultiHeadAttentionalFusion, TokenReasoningLayer
from tpr_mm.registry import MODELS

D, HEADS = 24, 4


def _mhaf(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='MultiHeadAttentionalFusion',
            embed_dims=D,
            num_heads=HEADS,
            ffn_ratio=1.5,
            **kwargs,
        )
    ).eval()


def _naive_fusion(m, q, ctx, mask):
    """Per-sample loop: softmax over valid [q; ctx] keys, per head, pre- or post-norm block."""

    def ln(x, norm):
        return F.layer_norm(x, (D,), norm.weight, norm.bias)

    w_q, w_k, w_v = m.attn.in_proj_weight.chunk(3)
    b_q, b_k, b_v = m.attn.in_proj_bias.chunk(3)
    hd = D // HEADS
    outs = []
    for i in range(q.shape[0]):
        keys = torch.cat([q[i : i + 1], ctx[i][mask[i]]])
        query = q[i]
        if m.norm_first:
            query, keys = ln(query, m.norm1), ln(keys, m.norm1)
        qq, kk, vv = query @ w_q.t() + b_q, keys @ w_k.t() + b_k, keys @ w_v.t() + b_v
        heads = []
        for h in range(HEADS):
            s = slice(h * hd, (h + 1) * hd)
            att = torch.softmax(kk[:, s] @ qq[s] / hd**0.5, dim=0)
            heads.append(att @ vv[:, s])
        a = m.attn.out_proj(torch.cat(heads))
        if m.norm_first:
            x = q[i] + a
            outs.append(x + m.ffn(ln(x, m.norm2)))
        else:
            x = ln(q[i] + a, m.norm1)
            outs.append(ln(x + m.ffn(x), m.norm2))
    return torch.stack(outs)


@pytest.mark.parametrize('norm_first', [True, False])
@pytest.mark.parametrize('k', [0, 1, 2, 3])
def test_fusion_shapes_and_naive_reference(k, norm_first):
    m = _mhaf(norm_first=norm_first)
    # Non-trivial norm affine parameters, so a misplaced norm shows.
    with torch.no_grad():
        for norm in (m.norm1, m.norm2):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    g = torch.Generator().manual_seed(k)
    q, ctx = torch.randn(5, D, generator=g), torch.randn(5, k, D, generator=g)
    mask = torch.rand(5, k, generator=g) > 0.3
    out = m(q, ctx, mask)
    assert out.shape == (5, D)
    torch.testing.assert_close(out, _naive_fusion(m, q, ctx, mask), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        m(q, ctx), _naive_fusion(m, q, ctx, torch.ones_like(mask)), rtol=1e-5, atol=1e-5
    )


def test_fusion_without_context_and_masked_entries_ignored():
    m = _mhaf()
    q = torch.randn(3, D)
    torch.testing.assert_close(m(q), m(q, torch.zeros(3, 0, D)))
    ctx = torch.randn(3, 2, D)
    mask = torch.tensor([[True, False], [False, False], [True, True]])
    changed = ctx.clone()
    changed[~mask] = 100.0
    torch.testing.assert_close(m(q, ctx, mask), m(q, changed, mask))
    # Support order does not matter.
    torch.testing.assert_close(m(q, ctx), m(q, ctx.flip(1)), rtol=1e-5, atol=1e-6)


def test_fusion_rejects_bad_shapes():
    m = _mhaf()
    with pytest.raises(ValueError, match='context must be'):
        m(torch.randn(3, D), torch.randn(2, 1, D))
    with pytest.raises(ValueError, match='divisible'):
        MultiHeadAttentionalFusion(10, num_heads=4)


@pytest.mark.parametrize('norm_first', [True, False])
def test_token_reasoning_equals_transformer_layer_at_slot(norm_first):
    torch.manual_seed(1)
    layer = TokenReasoningLayer(D, num_heads=HEADS, ffn_ratio=2.0, norm_first=norm_first).eval()
    with torch.no_grad():
        for norm in (layer.norm1, layer.norm2):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    ref = nn.TransformerEncoderLayer(
        D,
        HEADS,
        dim_feedforward=2 * D,
        dropout=0.0,
        activation='gelu',
        batch_first=True,
        norm_first=norm_first,
    ).eval()
    ref.self_attn.load_state_dict(layer.attn.state_dict())
    ref.linear1.load_state_dict(layer.ffn[0].state_dict())
    ref.linear2.load_state_dict(layer.ffn[3].state_dict())
    ref.norm1.load_state_dict(layer.norm1.state_dict())
    ref.norm2.load_state_dict(layer.norm2.state_dict())
    tokens = torch.randn(5, 7, D)
    mask = torch.ones(5, 7, dtype=torch.bool)
    mask[1, 4:] = False
    mask[3, 2:] = False
    index = torch.tensor([0, 3, 6, 1, 2])
    with torch.no_grad():
        full = ref(tokens, src_key_padding_mask=~mask)
        out = layer(tokens, index, mask)
    rows = torch.arange(5)
    valid_rows = mask[rows, index]
    torch.testing.assert_close(out[valid_rows], full[rows, index][valid_rows], rtol=1e-4, atol=1e-5)
    assert layer(tokens).shape == (5, D)
    torch.testing.assert_close(layer(tokens), ref(tokens)[:, 0], rtol=1e-4, atol=1e-5)
