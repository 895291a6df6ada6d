# Copyright (c) tpr_mm contributors. All rights reserved.
import math

import open_clip
import pytest
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from open_clip.transformer import QuickGELU
from torch import nn

from tpr_mm.models.backbones import OpenCLIPBackbone
from tpr_mm.registry import MODELS
from tpr_mm.testing import (
    build_tiny_clip,
    make_open_clip_checkpoint,
    make_openai_torchscript,
    tiny_clip_cfg,
)

EOT = 49407


def _backbone(img_size=(48, 16), **kwargs):
    torch.manual_seed(0)
    return OpenCLIPBackbone(model_cfg=tiny_clip_cfg(), img_size=img_size, **kwargs).eval()


def _captions(lengths, context_length=77, seed=0):
    """(B, context_length) ids: SOT, random words, EOT, zero padding."""
    gen = torch.Generator().manual_seed(seed)
    text = torch.zeros(len(lengths), context_length, dtype=torch.long)
    for i, n in enumerate(lengths):
        text[i, 0] = 49406
        text[i, 1 : n + 1] = torch.randint(1, 49405, (n,), generator=gen)
        text[i, n + 1] = EOT
    return text


def _acts(backbone):
    return {
        type(b.mlp.gelu)
        for tr in (backbone.clip.visual.transformer, backbone.clip.transformer)
        for b in tr.resblocks
    }


def _naive_last_attention(transformer, tower_forward, mask=None):
    """Head-averaged softmax(QK^T / sqrt(d) + mask) of the last block, from its captured input."""
    captured = {}
    hook = transformer.resblocks[-1].register_forward_pre_hook(
        lambda mod, args: captured.setdefault('x', args[0])
    )
    tower_forward()
    hook.remove()
    block = transformer.resblocks[-1]
    y = block.ln_1(captured['x'])
    width, heads = y.shape[-1], block.attn.num_heads
    q, k, _ = F.linear(y, block.attn.in_proj_weight, block.attn.in_proj_bias).chunk(3, dim=-1)
    split = lambda t: t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)  # noqa: E731
    logits = split(q) @ split(k).transpose(-1, -2) / math.sqrt(width // heads)
    if mask is not None:
        logits = logits + mask
    return logits.softmax(-1).mean(1)


def test_build_from_registry():
    backbone = MODELS.build(
        {'type': 'OpenCLIPBackbone', 'model_cfg': tiny_clip_cfg(), 'img_size': (48, 16)}
    )
    assert isinstance(backbone, OpenCLIPBackbone) and isinstance(backbone, BaseModule)
    assert (backbone.embed_dim, backbone.vision_width, backbone.text_width) == (32, 64, 64)
    assert backbone.context_length == 77 and backbone.img_size == (48, 16)
    assert backbone.grid_size == (6, 2)
    assert backbone.clip.visual.positional_embedding.shape == (13, 64)
    assert not backbone.clip.logit_scale.requires_grad
    assert _acts(backbone) == {nn.GELU}


@pytest.mark.parametrize('img_size,batch', [((48, 16), 3), ((64, 32), 1)])
def test_encode_image_shapes_and_parity(img_size, batch):
    backbone = _backbone(img_size)
    images = torch.randn(batch, 3, *img_size, generator=torch.Generator().manual_seed(1))
    num = 1 + (img_size[0] // 8) * (img_size[1] // 8)
    with torch.no_grad():
        plain = backbone.encode_image(images)
        full = backbone.encode_image(images, return_tokens=True, return_attention=True)
        reference = backbone.clip.encode_image(images)
        backbone.clip.visual.output_tokens = True
        _, patch_tokens = backbone.clip.visual(images)  # open_clip: ln_post, unprojected, no CLS
        backbone.clip.visual.output_tokens = False
        naive = _naive_last_attention(
            backbone.clip.visual.transformer, lambda: backbone.clip.encode_image(images)
        )
    assert set(plain) == {'global'}
    assert full['global'].shape == (batch, 32)
    assert full['tokens'].shape == (batch, num, 32)
    assert full['tokens_unprojected'].shape == (batch, num, 64)
    assert full['attention'].shape == (batch, num, num)
    assert torch.equal(full['global'], full['tokens'][:, 0])
    torch.testing.assert_close(plain['global'], reference, rtol=0, atol=1e-6)
    torch.testing.assert_close(full['global'], reference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        full['tokens_unprojected'][:, 1:], patch_tokens, rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        full['tokens'], full['tokens_unprojected'] @ backbone.clip.visual.proj
    )
    torch.testing.assert_close(full['attention'].sum(-1), torch.ones(batch, num))
    torch.testing.assert_close(full['attention'], naive, rtol=1e-5, atol=1e-6)


def test_encode_text_shapes_parity_and_causal_attention():
    backbone = _backbone()
    text = _captions([3, 0, 12, 75, 7])
    with torch.no_grad():
        plain = backbone.encode_text(text)
        full = backbone.encode_text(text, return_tokens=True, return_attention=True)
        reference = backbone.clip.encode_text(text)
        naive = _naive_last_attention(
            backbone.clip.transformer,
            lambda: backbone.clip.encode_text(text),
            backbone.clip.attn_mask,
        )
    assert full['tokens'].shape == (5, 77, 32) and full['tokens_unprojected'].shape == (5, 77, 64)
    assert torch.equal(full['eot_index'], torch.tensor([4, 1, 13, 76, 8]))
    assert torch.equal(full['eot_index'], text.argmax(-1))
    assert torch.equal(full['mask'], text != 0) and full['mask'].dtype == torch.bool
    # A real token with id 0 ('!' before other punctuation: '!"!' -> [0, 10377]) is no padding.
    bang = text.clone()
    bang[2, 5] = 0
    with torch.no_grad():
        got = backbone.encode_text(bang, return_tokens=True)['mask']
    want = torch.zeros_like(got)
    for b, e in enumerate(bang.argmax(-1).tolist()):
        want[b, : e + 1] = True  # start token, caption, EOT
    assert torch.equal(got, want) and got[2, 5]
    assert torch.equal(full['global'], full['tokens'][torch.arange(5), full['eot_index']])
    torch.testing.assert_close(plain['global'], reference, rtol=0, atol=1e-6)
    torch.testing.assert_close(full['global'], reference, rtol=1e-5, atol=1e-5)
    attention = full['attention']
    assert attention.shape == (5, 77, 77)
    torch.testing.assert_close(attention.sum(-1), torch.ones(5, 77))
    assert torch.all(attention.triu(1) == 0)
    torch.testing.assert_close(attention, naive, rtol=1e-5, atol=1e-6)


def test_attention_path_leaves_block_outputs_unchanged():
    # Full length on both paths (trimming only applies without attention).
    backbone = _backbone(trim_text_padding=False)
    images, text = torch.randn(3, 3, 48, 16), _captions([5, 9, 2])
    with torch.no_grad():
        for encode, data in ((backbone.encode_image, images), (backbone.encode_text, text)):
            a = encode(data, return_tokens=True)
            b = encode(data, return_tokens=True, return_attention=True)
            torch.testing.assert_close(a['tokens'], b['tokens'], rtol=1e-5, atol=1e-6)
            assert 'attention' not in a


def test_text_with_trimmed_padding_matches_full_context():
    backbone = _backbone()
    text = _captions([3, 10, 6])
    with torch.no_grad():
        full = backbone.encode_text(text, return_tokens=True)
        short = backbone.encode_text(text[:, :12], return_tokens=True)
    torch.testing.assert_close(short['global'], full['global'], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(short['tokens'], full['tokens'][:, :12], rtol=1e-5, atol=1e-6)


def test_bad_inputs_are_named():
    backbone = _backbone()
    with pytest.raises(ValueError, match=r'\(B, 3, 48, 16\).*\(2, 3, 64, 32\)'):
        backbone.encode_image(torch.zeros(2, 3, 64, 32))
    with pytest.raises(ValueError, match='78 tokens.*context_length=77'):
        backbone.encode_text(torch.ones(2, 78, dtype=torch.long))
    with pytest.raises(ValueError, match='integer token ids'):
        backbone.encode_text(torch.ones(2, 77))
    with pytest.raises(ValueError, match='bicubic'):
        _backbone(pos_embed_interpolation='nearest')


def test_forward_and_grad_checkpointing_gradients():
    images, text = torch.randn(3, 3, 48, 16), _captions([4, 8, 1])
    grads = []
    for ckpt in (False, True):
        backbone = _backbone(grad_checkpointing=ckpt).train()
        assert backbone.clip.transformer.grad_checkpointing is ckpt
        img, txt = backbone(images, text)
        out = backbone.encode_text(text, return_tokens=True, return_attention=True)
        loss = (img * txt).sum() + out['attention'].square().sum() + out['tokens'].mean()
        loss.backward()
        grads.append(
            {n: p.grad.clone() for n, p in backbone.named_parameters() if p.grad is not None}
        )
    assert grads[0].keys() == grads[1].keys() and len(grads[0]) > 20
    for name in grads[0]:
        torch.testing.assert_close(grads[1][name], grads[0][name], rtol=1e-4, atol=1e-6)
    backbone = _backbone()
    img, txt = backbone(images=images)
    assert img.shape == (3, 32) and txt is None


def test_load_openai_torchscript_resizes_and_selects_quick_gelu(tmp_path):
    path = tmp_path / 'ViT-T-8.pt'
    saved = make_openai_torchscript(path, image_size=32, seed=7)  # 4x4 grid -> model 8x4
    backbone = OpenCLIPBackbone(pretrained=str(path), model_cfg=tiny_clip_cfg(), img_size=(64, 32))
    assert _acts(backbone) == {QuickGELU}
    loaded = backbone.clip.state_dict()
    assert set(saved) - set(loaded) == {'input_resolution', 'context_length', 'vocab_size'}
    for key, value in loaded.items():
        if key != 'visual.positional_embedding':
            assert torch.equal(value, saved[key].float()), key
    pos = saved['visual.positional_embedding'].float()
    grid = F.interpolate(
        pos[1:].reshape(4, 4, -1).permute(2, 0, 1)[None],
        size=(8, 4),
        mode='bilinear',
        align_corners=False,
    )
    expected = torch.cat([pos[:1], grid[0].permute(1, 2, 0).reshape(32, -1)])
    torch.testing.assert_close(loaded['visual.positional_embedding'], expected, rtol=0, atol=0)
    # The text tower is untouched by the resize: same features as open_clip on the raw weights.
    reference = build_tiny_clip(tiny_clip_cfg(image_size=32, quick_gelu=True))
    reference.load_state_dict({k: v.float() for k, v in saved.items() if k in loaded})
    # (our text is trimmed to its longest caption: equal up to float summation order)
    text = _captions([6, 2])
    with torch.no_grad():
        torch.testing.assert_close(
            backbone.encode_text(text)['global'], reference.encode_text(text), rtol=0, atol=1e-5
        )
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    backbone.init_weights()  # MMEngine's runner calls this; it must keep the loaded weights
    assert all(torch.equal(v, before[k]) for k, v in backbone.state_dict().items())
    explicit = OpenCLIPBackbone(
        pretrained=path,
        model_cfg=tiny_clip_cfg(),
        img_size=(64, 32),
        quick_gelu=False,
        pos_embed_interpolation='bicubic',
    )
    assert _acts(explicit) == {nn.GELU}
    assert not torch.equal(
        explicit.clip.visual.positional_embedding, loaded['visual.positional_embedding']
    )


@pytest.mark.parametrize('nested,prefix', [(False, ''), (True, 'module.')])
def test_load_open_clip_checkpoint(tmp_path, nested, prefix):
    path = tmp_path / 'epoch_1.pt'
    saved = make_open_clip_checkpoint(path, tiny_clip_cfg(), seed=9, nested=nested, prefix=prefix)
    backbone = OpenCLIPBackbone(pretrained=str(path), model_cfg=tiny_clip_cfg(), img_size=(48, 16))
    assert _acts(backbone) == {nn.GELU}  # model default for non-OpenAI weights
    loaded = backbone.clip.state_dict()
    assert loaded.keys() == saved.keys()
    assert all(torch.equal(loaded[k], saved[k]) for k in saved)


def test_missing_file_and_mismatched_keys(tmp_path):
    with pytest.raises(FileNotFoundError, match='missing/ViT-B-16.pt'):
        _backbone(pretrained=str(tmp_path / 'missing' / 'ViT-B-16.pt'))
    with pytest.raises(FileNotFoundError, match='weights.pth'):
        _backbone(pretrained='weights.pth')
    path = tmp_path / 'wide.pt'
    make_open_clip_checkpoint(path, tiny_clip_cfg(text_width=32, vision_layers=3))
    with pytest.raises(ValueError, match=r'wide\.pt does not match.*unexpected.*shape-mismatched'):
        _backbone(pretrained=str(path))
    with pytest.raises(ValueError, match='neither a file nor an open_clip tag'):
        _backbone(pretrained='no_such_tag')


class _FakeCreateModel:
    """Stands in for ``open_clip.create_model``: records calls, builds tiny CLIPs offline."""

    def __init__(self):
        self.calls = []
        self.tag_model = build_tiny_clip(tiny_clip_cfg(image_size=32), seed=11)

    def __call__(self, model_name, pretrained=None, **kwargs):
        self.calls.append((model_name, pretrained, kwargs))
        if pretrained is not None:
            return self.tag_model
        cfg = tiny_clip_cfg(
            image_size=kwargs['force_image_size'],
            context_length=kwargs['force_context_length'],
            quick_gelu=kwargs.get('force_quick_gelu', kwargs.get('quick_gelu', False)),
        )
        return build_tiny_clip(cfg, seed=12)


def test_tag_routing_uses_open_clip_and_fits_weights(monkeypatch):
    fake = _FakeCreateModel()
    monkeypatch.setattr(open_clip, 'create_model', fake)
    backbone = OpenCLIPBackbone(
        'ViT-B-16', pretrained='openai', model_cfg=tiny_clip_cfg(), img_size=(64, 32)
    )
    assert fake.calls == [('ViT-B-16', 'openai', {'force_quick_gelu': True})]
    assert _acts(backbone) == {QuickGELU}
    source, loaded = fake.tag_model.state_dict(), backbone.clip.state_dict()
    for key in source:
        if key != 'visual.positional_embedding':
            assert torch.equal(loaded[key], source[key]), key
    assert loaded['visual.positional_embedding'].shape == (33, 64)


def test_named_model_routing(monkeypatch):
    fake = _FakeCreateModel()
    monkeypatch.setattr(open_clip, 'create_model', fake)
    OpenCLIPBackbone('ViT-B-16', img_size=(48, 16))
    OpenCLIPBackbone('ViT-B-16-quickgelu', img_size=(48, 16), quick_gelu=False)
    backbone = OpenCLIPBackbone(
        'ViT-B-16', pretrained='openai', img_size=(48, 16), context_length=40
    )
    common = {'force_image_size': (48, 16), 'force_context_length': 77}
    assert fake.calls[0] == ('ViT-B-16', None, common)
    assert fake.calls[1] == ('ViT-B-16-quickgelu', None, dict(common, quick_gelu=False))
    assert fake.calls[2] == (
        'ViT-B-16',
        None,
        dict(common, force_context_length=40, force_quick_gelu=True),
    )
    assert fake.calls[3] == ('ViT-B-16', 'openai', {'force_quick_gelu': True})
    assert _acts(backbone) == {QuickGELU}
    expected_text_pos = fake.tag_model.positional_embedding[:40]
    assert torch.equal(backbone.clip.positional_embedding, expected_text_pos)


def test_real_vit_b16_config_at_384x128():
    backbone = OpenCLIPBackbone('ViT-B-16', img_size=(384, 128)).eval()
    assert backbone.clip.visual.positional_embedding.shape == (193, 768)
    assert (backbone.embed_dim, backbone.vision_width, backbone.text_width) == (512, 768, 512)
    with torch.no_grad():
        out = backbone.encode_image(torch.randn(1, 3, 384, 128), return_tokens=True)
        txt = backbone.encode_text(
            open_clip.tokenize(['a woman in a red coat']), return_tokens=True
        )
    assert out['tokens'].shape == (1, 193, 512) and out['tokens_unprojected'].shape == (1, 193, 768)
    assert txt['tokens'].shape == (
        1,
        8,
        512,
    )  # trimmed to the caption's EOT and txt['eot_index'].item() == 7
