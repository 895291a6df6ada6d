# Copyright (c) tpr_mm contributors. All rights reserved.
"""MGF neck: token selection, shared block, shapes with odd lengths and padding."""

import pytest
import torch

from tpr_mm.models.necks import MGFNeck, gather_tokens, select_informative_tokens


def _text_batch(b=3, length=19, d=16, lengths=(19, 7, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(b, length, d, generator=g)
    scores = torch.rand(b, length, generator=g)
    valid = torch.zeros(b, length, dtype=torch.bool)
    for i, n in enumerate(lengths):
        valid[i, :n] = True
    glob = torch.zeros(b, dtype=torch.long)
    candidates = valid.clone()
    candidates[:, 0] = False
    return tokens, scores, glob, candidates, valid


def test_selection_matches_sorting():
    g = torch.Generator().manual_seed(1)
    scores = torch.rand(4, 11, generator=g)
    cand = torch.rand(4, 11, generator=g) > 0.4
    index, valid = select_informative_tokens(scores, cand, 6)
    for b in range(4):
        ranked = sorted((i for i in range(11) if cand[b, i]), key=lambda i: -scores[b, i].item())
        n = min(6, len(ranked))
        assert index[b, :n].tolist() == ranked[:n]
        assert valid[b].tolist() == [True] * n + [False] * (6 - n)
        assert len(set(index[b].tolist())) == 6  # no position twice
    tokens = torch.randn(4, 11, 3, generator=g)
    assert torch.equal(gather_tokens(tokens, index)[2, 1], tokens[2, index[2, 1]])
    with pytest.raises(ValueError):
        select_informative_tokens(scores, cand, 12)


@pytest.mark.parametrize('length,lengths', [(19, (19, 7, 4)), (23, (5, 23, 12)), (9, (9, 3, 2))])
def test_text_shapes_odd_lengths_and_padding(length, lengths):
    torch.manual_seed(0)
    neck = MGFNeck(embed_dims=16, num_heads=4, img_k_ratio=0.1, text_k_ratio=0.2).eval()
    tokens, scores, glob, cand, valid = _text_batch(3, length, 16, lengths)
    out = neck(tokens, scores, glob, cand, ~valid, 'text')
    k = int(0.2 * length)
    assert out['group_size'] == k
    assert len(out['feats']) == 3 and all(f.shape == (3, 16) for f in out['feats'])
    assert out['selected'].shape == (3, 2 * k, 16)
    assert out['selected_mask'].shape == (3, 2 * k)
    for i, n in enumerate(lengths):  # n - 1 candidates (position 0 is the global token)
        assert out['selected_mask'][i].sum().item() == min(2 * k, n - 1)
    assert all(torch.isfinite(f).all() for f in out['feats'])
    assert torch.equal(out['global_token'], tokens[:, 0])


def test_padding_content_does_not_change_features():
    torch.manual_seed(0)
    neck = MGFNeck(embed_dims=16, num_heads=4).eval()
    tokens, scores, glob, cand, valid = _text_batch(3, 19, 16, (19, 7, 4))
    ref = neck(tokens, scores, glob, cand, ~valid, 'text')
    tokens2, scores2 = tokens.clone(), scores.clone()
    tokens2[~valid] = 100.0 * torch.randn(int((~valid).sum()), 16)
    scores2[~valid] = 5.0  # even a high score must not let padding in
    out = neck(tokens2, scores2, glob, cand, ~valid, 'text')
    for a, b in zip(ref['feats'], out['feats']):
        assert torch.allclose(a, b, atol=1e-5)


def test_batched_groups_equal_per_group_loop():
    torch.manual_seed(0)
    neck = MGFNeck(embed_dims=16, num_heads=4, num_groups=3, text_k_ratio=0.15).eval()
    tokens, scores, glob, cand, valid = _text_batch(3, 23, 16, (23, 9, 6), seed=4)
    out = neck(tokens, scores, glob, cand, ~valid, 'text')
    k = out['group_size']
    for g in range(3):
        sel = out['selected'][:, g * k : (g + 1) * k]
        slot_valid = out['selected_mask'][:, g * k : (g + 1) * k]
        for b in range(3):
            keep = slot_valid[b]
            x = torch.cat([tokens[b, :1], sel[b][keep]]).unsqueeze(0)
            mem = tokens[b][valid[b]].unsqueeze(0)
            want = neck.bn_text(neck.block(x, mem)[:, 0])[0]  # eval BN: per-sample affine
            assert torch.allclose(out['feats'][1 + g][b], want, atol=1e-5)


def test_image_path_and_block_shared_across_modalities():
    torch.manual_seed(0)
    neck = MGFNeck(embed_dims=8, num_heads=2, img_k_ratio=0.1, text_k_ratio=0.2)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(5, 1 + 27, 8, generator=g)  # odd patch count
    attn = torch.rand(5, 28, generator=g)
    cand = torch.ones(5, 28, dtype=torch.bool)
    cand[:, 0] = False
    out = neck(tokens, attn, torch.zeros(5, dtype=torch.long), cand, None, 'image')
    assert out['group_size'] == 2 and out['selected'].shape == (5, 4, 8)
    assert out['selected_mask'].all()
    sum(f.sum() for f in out['feats']).backward()
    assert neck.bn_image.weight.grad is not None and neck.bn_text.weight.grad is None
    assert sum(1 for _ in neck.modules() if type(_).__name__ == 'ResidualCrossAttentionBlock') == 1
    assert not neck.bn_image.bias.requires_grad


def test_refine_off_and_reference_padding_mode():
    tokens, scores, glob, cand, valid = _text_batch(3, 19, 16, (19, 7, 4))
    off = MGFNeck(embed_dims=16, num_heads=4, refine=False).eval()
    out = off(tokens, scores, glob, cand, ~valid, 'text')
    assert off.block is None and len(out['feats']) == 1
    assert out['selected'].shape == (3, 6, 16)  # still selected for CFR/FCD
    ref = MGFNeck(embed_dims=16, num_heads=4, mask_invalid_tokens=False).eval()
    out = ref(tokens, scores, glob, cand, ~valid, 'text')
    assert out['selected_mask'].all()
    # Candidates still come first; padding only fills the remaining slots.
    assert set(out['selected'][2, :3].flatten().tolist()) == set(tokens[2, 1:4].flatten().tolist())


def test_bad_configuration_errors():
    with pytest.raises(ValueError, match='num_groups'):
        MGFNeck(embed_dims=8, num_heads=2, img_k_ratio=0.5, num_groups=2)
    neck = MGFNeck(embed_dims=8, num_heads=2)
    with pytest.raises(ValueError, match='group size 0'):
        neck.group_size(5, 'image')
    with pytest.raises(ValueError, match='width'):
        neck(
            torch.randn(2, 30, 4),
            torch.rand(2, 30),
            torch.zeros(2, dtype=torch.long),
            torch.ones(2, 30, dtype=torch.bool),
            None,
            'image',
        )
    with pytest.raises(ValueError, match='divisible'):
        MGFNeck(embed_dims=10, num_heads=4)
