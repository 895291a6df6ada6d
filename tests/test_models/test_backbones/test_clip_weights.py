# Copyright (c) tpr_mm contributors. All rights reserved.
import pytest
import torch
import torch.nn.functional as F
from open_clip.model import resize_pos_embed

from tpr_mm.models.backbones.clip_weights import (
    OPENAI_EXTRA_KEYS,
    fit_text_pos_embed,
    is_torchscript_archive,
    load_clip_state_dict,
    read_clip_checkpoint,
    resize_visual_pos_embed,
)
from tpr_mm.testing import (
    build_tiny_clip,
    make_open_clip_checkpoint,
    make_openai_torchscript,
    tiny_clip_cfg,
)


@pytest.fixture(scope='module')
def openai_archive(tmp_path_factory):
    path = tmp_path_factory.mktemp('ts') / 'ViT-T-8.pt'
    saved = make_openai_torchscript(path, image_size=32, seed=3)
    return path, saved


@pytest.mark.filterwarnings('ignore:.*TorchScript archive')
def test_torchscript_archive_is_refused_by_weights_only_load(openai_archive):
    path, _ = openai_archive
    with pytest.raises(RuntimeError, match='TorchScript'):
        torch.load(path, weights_only=True)
    assert is_torchscript_archive(path)


def test_plain_checkpoint_is_not_torchscript(tmp_path):
    path = tmp_path / 'ckpt.pth'
    make_open_clip_checkpoint(path)
    assert not is_torchscript_archive(path)
    (tmp_path / 'text.pt').write_text('not a zip')
    assert not is_torchscript_archive(tmp_path / 'text.pt')


def test_read_openai_torchscript(openai_archive):
    path, saved = openai_archive
    state_dict, fmt = read_clip_checkpoint(path)
    assert fmt == 'torchscript'
    assert not set(OPENAI_EXTRA_KEYS) & set(state_dict)
    assert set(state_dict) == set(saved) - set(OPENAI_EXTRA_KEYS)
    # The stand-in has float16 matrices like OpenAI's; the reader casts to float32 exactly.
    assert saved['visual.conv1.weight'].dtype == torch.float16
    assert saved['visual.ln_post.weight'].dtype == torch.float32
    for key, value in state_dict.items():
        assert value.dtype == torch.float32, key
        assert torch.equal(value, saved[key].float()), key


@pytest.mark.parametrize(
    'nested,prefix', [(False, ''), (True, ''), (False, 'module.'), (True, 'module.')]
)
def test_read_open_clip_checkpoint(tmp_path, nested, prefix):
    path = tmp_path / 'ckpt.pth'
    saved = make_open_clip_checkpoint(path, nested=nested, prefix=prefix, seed=5)
    state_dict, fmt = read_clip_checkpoint(path)
    assert fmt == 'checkpoint'
    assert state_dict.keys() == saved.keys()
    assert all(torch.equal(state_dict[k], saved[k]) for k in saved)


def test_read_errors_name_the_file(tmp_path):
    missing = tmp_path / 'nope' / 'ViT-B-16.pt'
    with pytest.raises(FileNotFoundError, match='ViT-B-16.pt'):
        read_clip_checkpoint(missing)
    bad = tmp_path / 'bad.pth'
    torch.save({'a': torch.zeros(1), 'b': 3}, bad)
    with pytest.raises(ValueError, match=r'bad\.pth.*non-tensor entries: b'):
        read_clip_checkpoint(bad)
    torch.save([torch.zeros(1)], bad)
    with pytest.raises(ValueError, match='expected a state dict'):
        read_clip_checkpoint(bad)


def _naive_resize(pos, src, dst, mode, antialias=False):
    grid = pos[1:].reshape(src[0], src[1], -1).permute(2, 0, 1)[None]
    grid = F.interpolate(grid, size=dst, mode=mode, align_corners=False, antialias=antialias)
    return torch.cat([pos[:1], grid[0].permute(1, 2, 0).reshape(dst[0] * dst[1], -1)])


def test_resize_bilinear_matches_manual_interpolate():
    torch.manual_seed(0)
    pos = torch.randn(1 + 14 * 14, 12)
    out = resize_visual_pos_embed(pos, (24, 8))
    assert out.shape == (1 + 24 * 8, 12)
    assert torch.equal(out[0], pos[0])
    torch.testing.assert_close(
        out, _naive_resize(pos, (14, 14), (24, 8), 'bilinear'), rtol=0, atol=0
    )
    # Row-major: grid row r, col c sits at 1 + r * 8 + c (a constant-per-row grid stays so).
    rows = torch.arange(14.0).repeat_interleave(14)[:, None].expand(-1, 3)
    ramp = resize_visual_pos_embed(torch.cat([torch.zeros(1, 3), rows]), (24, 8))[1:]
    ramp = ramp.reshape(24, 8, 3)
    torch.testing.assert_close(ramp[:, 0], ramp[:, 7])
    assert torch.all(ramp[1:, 0, 0] >= ramp[:-1, 0, 0])
    assert resize_visual_pos_embed(pos, (14, 14)) is pos


def test_resize_bicubic_matches_open_clip():
    model = build_tiny_clip(tiny_clip_cfg(image_size=(40, 24)))  # grid 5x3
    pos = torch.randn(1 + 7 * 7, 64)
    state = {'visual.positional_embedding': pos.clone()}
    resize_pos_embed(state, model)  # open_clip: bicubic, antialias
    ours = resize_visual_pos_embed(pos, (5, 3), mode='bicubic')
    torch.testing.assert_close(ours, state['visual.positional_embedding'], rtol=0, atol=0)


def test_resize_non_square_source():
    pos = torch.randn(1 + 24 * 8, 5)
    out = resize_visual_pos_embed(pos, (12, 4))  # same aspect ratio: source inferred as 24x8
    torch.testing.assert_close(out, _naive_resize(pos, (24, 8), (12, 4), 'bilinear'))
    with pytest.raises(ValueError, match='cannot infer'):
        resize_visual_pos_embed(pos, (7, 7))
    out = resize_visual_pos_embed(pos, (7, 7), source_grid=(24, 8))
    assert out.shape == (50, 5)
    with pytest.raises(ValueError, match='bilinear'):
        resize_visual_pos_embed(pos, (7, 7), mode='nearest')


def test_fit_text_pos_embed():
    pos = torch.randn(77, 8)
    assert torch.equal(fit_text_pos_embed(pos, 64), pos[:64])
    assert fit_text_pos_embed(pos, 77) is pos
    with pytest.raises(ValueError, match=r'ckpt\.pt.*77 positions.*context_length=100'):
        fit_text_pos_embed(pos, 100, source='ckpt.pt')


def test_load_clip_state_dict_resizes_and_truncates():
    src = build_tiny_clip(tiny_clip_cfg(image_size=32), seed=1)  # 4x4 grid, 77 positions
    dst = build_tiny_clip(tiny_clip_cfg(image_size=(64, 32), context_length=40), seed=2)
    state = src.state_dict()
    load_clip_state_dict(dst, state, 'src')
    loaded = dst.state_dict()
    for key, value in state.items():
        if key == 'visual.positional_embedding':
            expected = _naive_resize(value, (4, 4), (8, 4), 'bilinear')
            torch.testing.assert_close(loaded[key], expected, rtol=0, atol=0)
        elif key == 'positional_embedding':
            assert torch.equal(loaded[key], value[:40])
        else:
            assert torch.equal(loaded[key], value), key


def test_load_clip_state_dict_reports_mismatches():
    model = build_tiny_clip()
    state = dict(build_tiny_clip(tiny_clip_cfg(embed_dim=16)).state_dict())
    del state['ln_final.bias']
    state['extra.weight'] = torch.zeros(1)
    with pytest.raises(ValueError) as info:
        load_clip_state_dict(model, state, 'other.pth')
    msg = str(info.value)
    assert 'other.pth does not match' in msg
    assert '1 missing key(s): ln_final.bias' in msg
    assert '1 unexpected key(s): extra.weight' in msg
    assert '2 shape-mismatched key(s)' in msg
    assert 'text_projection: checkpoint (64, 16) vs model (64, 32)' in msg
