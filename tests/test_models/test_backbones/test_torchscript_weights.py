# Copyright (c) tpr_mm contributors. All rights reserved.
"""TorchScript weights are read without torch.jit.load; archives with code are refused."""

import os
import pickle
import warnings
import zipfile
from typing import Tuple

import pytest
import torch
from torch import nn

from tpr_mm.models.backbones.clip_weights import read_clip_checkpoint
from tpr_mm.models.backbones.torchscript_weights import (
    TorchScriptArchiveError,
    read_torchscript_state_dict,
)
from tpr_mm.testing import make_openai_torchscript


class _Block(nn.Module):
    def __init__(self, width: int, mask):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, 2)
        self.mlp = nn.Sequential(
            nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width)
        )
        self.attn_mask = mask  # a plain tensor attribute, as in OpenAI's model: not a weight

    def forward(self, x):
        return x + self.mlp(self.ln_1(x))


class _Transformer(nn.Module):
    def __init__(self, width: int, mask):
        super().__init__()
        self.resblocks = nn.Sequential(_Block(width, mask), _Block(width, mask))

    def forward(self, x):
        return self.resblocks(x)


class _Visual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 4, 4, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(16))
        self.positional_embedding = nn.Parameter(torch.randn(5, 16))
        self.transformer = _Transformer(16, None)
        self.proj = nn.Parameter(torch.randn(16, 8).half())

    def forward(self, x):
        return self.transformer(self.conv1(x).flatten(2).transpose(1, 2))


class _TinyOpenAIClip(nn.Module):
    """OpenAI's key names and module kinds, a few tensors each."""

    def __init__(self):
        super().__init__()
        self.visual = _Visual()
        self.transformer = _Transformer(8, torch.full((4, 4), float('-inf')).triu(1))
        self.token_embedding = nn.Embedding(10, 8)
        self.positional_embedding = nn.Parameter(torch.randn(4, 8))
        self.ln_final = nn.LayerNorm(8)
        self.text_projection = nn.Parameter(torch.randn(8, 8))
        self.logit_scale = nn.Parameter(torch.ones([]))
        self.register_buffer('input_resolution', torch.tensor(8))

    def forward(self, text):
        return self.transformer(self.token_embedding(text) + self.positional_embedding)


class _ReadsAFile(nn.Module):
    """Its TorchScript ``__setstate__`` reads a file while torch.jit.load loads it."""

    def __init__(self, path: str):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(16))
        self.path = path

    def forward(self, x):
        return x + self.weight

    @torch.jit.export
    def __getstate__(self) -> Tuple[torch.Tensor, str, bool]:
        return (self.weight, self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: Tuple[torch.Tensor, str, bool]) -> None:
        self.path = state[1]
        self.training = state[2]
        self.weight = torch.from_file(self.path, False, 16, dtype=torch.uint8).float()


def _script_save(module: nn.Module, path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)  # torch.jit deprecation notice
        torch.jit.script(module).save(str(path))


def _jit_state_dict(path) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)
        return dict(torch.jit.load(str(path)).state_dict())


def test_scripted_archive_gives_the_modules_state_dict(tmp_path):
    torch.manual_seed(0)
    model = _TinyOpenAIClip()
    path = tmp_path / 'ViT-T.pt'
    _script_save(model, path)
    ours = read_torchscript_state_dict(str(path))
    expected = model.state_dict()
    assert list(ours) == list(expected)  # attn_mask (an attribute) is not a weight
    assert not [k for k in ours if k.endswith('attn_mask')]
    for key, value in expected.items():
        assert ours[key].dtype == value.dtype and torch.equal(ours[key], value), key
    reference = _jit_state_dict(path)  # the benign archive may be jit-loaded to compare
    assert ours.keys() == reference.keys()
    assert all(torch.equal(ours[k], reference[k]) for k in reference)


def test_traced_openai_stand_in_through_read_clip_checkpoint(tmp_path):
    path = tmp_path / 'ViT-T-8.pt'
    saved = make_openai_torchscript(path, image_size=32, seed=1)
    state_dict, fmt = read_clip_checkpoint(path)
    assert fmt == 'torchscript'
    assert set(state_dict) == set(saved) - {'input_resolution', 'context_length', 'vocab_size'}
    assert all(torch.equal(v, saved[k].float()) for k, v in state_dict.items())


def test_archive_whose_setstate_reads_a_file_is_refused(tmp_path):
    secret = tmp_path / 'secret.txt'
    secret.write_bytes(b'do-not-read-this')
    path = tmp_path / 'ViT-B-16.pt'
    _script_save(_ReadsAFile(str(secret)), path)
    # The attack is real: torch.jit.load runs __setstate__, which reads the file.
    leaked = _jit_state_dict(path)['weight'].to(torch.uint8)
    assert bytes(leaked.tolist()) == b'do-not-read-this'

    secret.unlink()  # had the reader run the code, it would fail on the missing file
    with pytest.raises(TorchScriptArchiveError, match='defines __setstate__.*refusing'):
        read_torchscript_state_dict(str(path))
    with pytest.raises(ValueError, match='ViT-B-16.pt: class __torch__.*_ReadsAFile'):
        read_clip_checkpoint(path)


class _Touch:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return open, (self.path, 'w')


def test_pickled_global_in_data_pkl_is_refused(tmp_path):
    benign = tmp_path / 'benign.pt'
    _script_save(_TinyOpenAIClip(), benign)
    marker = str(tmp_path / 'marker')
    payload = pickle.dumps({'x': _Touch(marker)}, protocol=2)
    pickle.loads(payload)  # the payload is real: unpickling it normally creates the marker
    assert os.path.exists(marker)
    os.remove(marker)

    crafted = tmp_path / 'crafted.pt'
    with zipfile.ZipFile(benign) as src, zipfile.ZipFile(crafted, 'w') as dst:
        for item in src.infolist():
            data = payload if item.filename.endswith('/data.pkl') else src.read(item)
            dst.writestr(item, data)
    with pytest.raises(TorchScriptArchiveError, match=r'refusing to resolve (io|builtins)\.open'):
        read_torchscript_state_dict(str(crafted))
    assert not os.path.exists(marker)
