# Copyright (c) tpr_mm contributors. All rights reserved.
"""Checkpoints and CLIP weight files are unpickled safely; crafted files are refused."""

import os
import re
import runpy
import shutil
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import _load_checkpoint

from tpr_mm.engine.runner import mmengine_safe_globals
from tpr_mm.fileio import UnsafeCheckpointError
from tpr_mm.models.backbones.clip_weights import read_clip_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class _Reduce:
    """Pickles as ``fn(*args)``: how a crafted file smuggles a call in."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _save(tmp_path, payload, name='crafted.pth'):
    path = str(tmp_path / name)
    torch.save({'state_dict': {'w': torch.zeros(2)}, 'meta': {'x': payload}}, path)
    return path


def _load_like_the_runner(path):
    with mmengine_safe_globals():
        return _load_checkpoint(path, map_location='cpu')


@pytest.mark.parametrize(
    'payload',
    [
        _Reduce(getattr, HistoryBuffer, 'register_statistics'),  # allowlisted class, other attr
        _Reduce(getattr, HistoryBuffer, '__init__'),
        _Reduce(getattr, np.ndarray, 'tofile'),  # allowlisted type, not HistoryBuffer
        _Reduce(getattr, HistoryBuffer, '_statistics_methods'),
    ],
)
def test_getattr_beyond_history_buffer_statistics_is_refused(tmp_path, payload):
    with pytest.raises(Exception, match='refusing to resolve'):
        _load_like_the_runner(_save(tmp_path, payload))


def test_arbitrary_callables_are_refused(tmp_path):
    path = _save(tmp_path, _Reduce(os.system, 'echo pwned'))
    with pytest.raises(Exception, match='(?i)weights only|unsupported global'):
        _load_like_the_runner(path)


def test_mmengine_meta_types_still_load(tmp_path):
    buffer = HistoryBuffer()
    buffer.update(1.5)
    payload = dict(buffer=buffer, arr=np.arange(3), scalar=np.float64(2.5), dtype=np.dtype('f4'))
    loaded = _load_like_the_runner(_save(tmp_path, payload))
    assert loaded['meta']['x']['buffer'].mean() == 1.5
    assert loaded['meta']['x']['scalar'] == 2.5
    assert np.array_equal(loaded['meta']['x']['arr'], np.arange(3))


def test_clip_weight_files_are_loaded_with_weights_only(tmp_path):
    path = str(tmp_path / 'open_clip.pt')
    torch.save({'state_dict': {'w': _Reduce(os.system, 'echo pwned')}}, path)
    with pytest.raises(Exception, match='(?i)weights only|unsupported global'):
        read_clip_checkpoint(path)


def test_no_blanket_unsafe_loading_in_the_code():
    pattern = re.compile(r'weights_only\s*=\s*False')
    offenders = []
    for folder in ('tpr_mm', 'tools'):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if name.endswith('.py'):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding='utf-8') as f:
                        if pattern.search(f.read()):
                            offenders.append(os.path.relpath(path, ROOT))
    assert not offenders


# --- A crafted checkpoint while TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 ----------------------------
# torch.load honours that variable only where weights_only is left unset (MMEngine's own
# loaders); every tpr_mm path passes weights_only=True, so the payload must never run.
FORCE_UNSAFE = {'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD': '1'}


def _crafted_checkpoint(tmp_path):
    """A .pth whose unpickling creates ``marker``; proven by unpickling it unsafely once."""
    marker = str(tmp_path / 'marker')
    path = _save(tmp_path, _Reduce(open, marker, 'w'), name='epoch_1.pth')
    with open(path, 'rb') as f:
        torch.load(f, map_location='cpu', weights_only=False)  # the payload is real
    assert os.path.exists(marker)
    os.remove(marker)
    return path, marker


@pytest.fixture
def tool_cfg(tiny_cfg, tmp_path):
    path = str(tmp_path / 'cfg.py')
    tiny_cfg(tmp_path / 'work').dump(path)
    return path


def run_tool_in_process(monkeypatch, script: str, args) -> None:
    """``python tools/<script> args`` in this process (saves the start-up of a new one)."""
    monkeypatch.setattr(sys, 'argv', [script] + [str(a) for a in args])
    runpy.run_path(os.path.join(ROOT, 'tools', script), run_name='__main__')


@pytest.mark.parametrize('entry', ['test', 'train_resume', 'search_query'])
def test_crafted_checkpoint_with_weights_only_forced_off(entry, tool_cfg, tmp_path, monkeypatch):
    path, marker = _crafted_checkpoint(tmp_path)
    script, args = {
        'test': ('test.py', [tool_cfg, path]),
        'train_resume': ('train.py', [tool_cfg, '--resume', path]),
        'search_query': (
            'search.py',
            ['query', '--config', tool_cfg, '--checkpoint', path]
            + ['--index-dir', tmp_path / 'index', 'a man in a red coat'],
        ),
    }[entry]
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(UnsafeCheckpointError) as err:
        run_tool_in_process(monkeypatch, script, args)
    message = str(err.value)
    assert message.startswith(f"{path}: refused by PyTorch's weights-only unpickler")
    assert 'nothing in the file was run: Unsupported global: GLOBAL io.open' in message
    assert not os.path.exists(marker)


def test_every_mmengine_entry_point_is_weights_only(tmp_path, monkeypatch):
    from mmengine.runner import CheckpointLoader, load_checkpoint

    from tpr_mm.models.retrievers.frozen_teacher import load_teacher_weights

    path, marker = _crafted_checkpoint(tmp_path)
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(UnsafeCheckpointError, match='Unsupported global: GLOBAL io.open'):
        load_checkpoint(torch.nn.Linear(2, 2), path)  # e.g. init_cfg=dict(type='Pretrained')
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint(path)
    with pytest.raises(UnsafeCheckpointError):  # the LCR²S teacher of tools/train_two_stage.py
        load_teacher_weights(torch.nn.Linear(2, 2), path)
    # A URL: downloaded into the cache (here: copied), then read weights-only like a local file.
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    monkeypatch.setattr(
        torch.hub, 'download_url_to_file', lambda url, dst, **kw: shutil.copy(path, dst)
    )
    with pytest.raises(UnsafeCheckpointError, match='Unsupported global: GLOBAL io.open'):
        CheckpointLoader.load_checkpoint('https://example.invalid/epoch_1.pth')
    assert not os.path.exists(marker)


def test_torch_load_is_called_in_one_place_and_jit_load_nowhere():
    """Every checkpoint read goes through tpr_mm.fileio.safe_torch_load (weights_only=True)."""
    call = re.compile(r'(?<![`\w.])torch\.(jit\.)?load\(')
    calls = []
    for folder in ('tpr_mm', 'tools'):
        for dirpath, _, files in os.walk(os.path.join(ROOT, folder)):
            for name in files:
                if name.endswith('.py'):
                    path = os.path.join(dirpath, name)
                    with open(path, encoding='utf-8') as f:
                        for match in call.finditer(f.read()):
                            calls.append((os.path.relpath(path, ROOT), match.group(0)))
    assert calls == [('tpr_mm/fileio/safe_checkpoint.py', 'torch.load(')]
