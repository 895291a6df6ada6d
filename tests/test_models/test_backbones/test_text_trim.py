# Copyright (c) tpr_mm contributors. All rights reserved.
"""Trimming text padding to the batch's longest caption changes no output."""

import torch

from tpr_mm.models.backbones import OpenCLIPBackbone
from tpr_mm.models.backbones.clip_tokens import trim_padding
from tpr_mm.models.fusion.token_reasoning import TokenReasoningLayer
from tpr_mm.testing import tiny_clip_cfg


def _captions(lengths, context_length=77, seed=0):
    """SOT, random words, EOT (largest id), zero padding to the full context."""
    g = torch.Generator().manual_seed(seed)
    text = torch.zeros(len(lengths), context_length, dtype=torch.long)
    for row, n in enumerate(lengths):
        text[row, 0] = 49406
        text[row, 1 : n - 1] = torch.randint(1, 49405, (n - 2,), generator=g)
        text[row, n - 1] = 49407
    return text


def _pair():
    torch.manual_seed(0)
    full = OpenCLIPBackbone(model_cfg=tiny_clip_cfg(), trim_text_padding=False).eval()
    trim = OpenCLIPBackbone(model_cfg=tiny_clip_cfg(), trim_text_padding=True).eval()
    trim.load_state_dict(full.state_dict())
    return full, trim


def test_trim_padding_cuts_to_longest_eot():
    text = _captions([5, 19, 12])
    assert trim_padding(text).shape == (3, 19)
    assert torch.equal(trim_padding(text), text[:, :19])
    assert trim_padding(_captions([77, 3])).shape == (2, 77)


@torch.no_grad()
def test_global_and_tokens_identical_to_full_padding():
    full, trim = _pair()
    text = _captions([6, 23, 40, 9, 77 - 50])
    a = full.encode_text(text, return_tokens=True)
    b = trim.encode_text(text, return_tokens=True)
    assert a['tokens'].shape[1] == 77 and b['tokens'].shape[1] == 40
    # EOT pooling: same position, same feature.
    assert torch.equal(a['eot_index'], b['eot_index'])
    torch.testing.assert_close(b['global'], a['global'], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(b['tokens'], a['tokens'][:, :40], rtol=1e-5, atol=1e-6)
    assert torch.equal(b['mask'], a['mask'][:, :40]) and not a['mask'][:, 40:].any()
    torch.testing.assert_close(trim.encode_text(text)['global'], a['global'], rtol=1e-5, atol=1e-6)
    # A masked token-reasoning layer (LCR2S student) ignores the cut padding too.
    layer = TokenReasoningLayer(embed_dims=a['tokens'].shape[-1], num_heads=2).eval()
    torch.testing.assert_close(
        layer(b['tokens'], b['eot_index'], b['mask']),
        layer(a['tokens'], a['eot_index'], a['mask']),
        rtol=1e-5,
        atol=1e-6,
    )


@torch.no_grad()
def test_attention_requests_keep_full_length():
    """Token-level heads (CFine) that ask for the attention map are not trimmed."""
    full, trim = _pair()
    text = _captions([6, 11])
    a = full.encode_text(text, return_tokens=True, return_attention=True)
    b = trim.encode_text(text, return_tokens=True, return_attention=True)
    assert b['attention'].shape == (2, 77, 77) and b['tokens'].shape[1] == 77
    torch.testing.assert_close(b['tokens'], a['tokens'], rtol=0, atol=0)


def test_training_gradients_match():
    full, trim = _pair()
    full.train()
    trim.train()
    text = _captions([8, 30, 14], seed=1)
    full.encode_text(text)['global'].square().sum().backward()
    trim.encode_text(text)['global'].square().sum().backward()
    for (name, p), q in zip(full.named_parameters(), trim.parameters()):
        if p.grad is None:
            assert q.grad is None, name
            continue
        # float32 summation order only: relative to the gradient's scale
        scale = float(p.grad.abs().max()) + 1e-12
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-4, atol=1e-5 * scale, msg=name)
