# Copyright (c) tpr_mm contributors. All rights reserved.
"""Finding a run's checkpoint in its work dir; loading a teacher strictly."""

import os
import time

import pytest
import torch

from tpr_mm.engine.runner.checkpoint import resolve_checkpoint
from tpr_mm.models.retrievers.frozen_teacher import build_frozen_teacher, load_teacher_weights


def _write(path, text='x'):
    path.write_text(text)
    return str(path)


def test_work_dir_prefers_the_newest_best_then_the_last(tmp_path):
    old = _write(tmp_path / 'best_t2i_R1_epoch_1.pth')
    os.utime(old, (time.time() - 60, time.time() - 60))
    new = _write(tmp_path / 'best_t2i_R1_epoch_3.pth')
    last = _write(tmp_path / 'epoch_4.pth')
    _write(tmp_path / 'last_checkpoint', last)
    assert resolve_checkpoint(str(tmp_path)) == new
    assert resolve_checkpoint(str(tmp_path), prefer='last') == last
    for name in ('best_t2i_R1_epoch_1.pth', 'best_t2i_R1_epoch_3.pth'):
        os.remove(tmp_path / name)
    assert resolve_checkpoint(str(tmp_path)) == last  # no best: the last one


def test_pointer_written_relative_to_another_cwd_is_found_next_to_it(tmp_path):
    ckpt = _write(tmp_path / 'epoch_2.pth')
    pointer = _write(tmp_path / 'last_checkpoint', 'work_dirs/elsewhere/epoch_2.pth')
    assert resolve_checkpoint(pointer) == ckpt
    assert resolve_checkpoint(ckpt) == ckpt  # a file is itself


@pytest.mark.parametrize(
    'make, message',
    [
        (lambda p: str(p / 'missing'), 'not found'),
        (lambda p: str(p), 'no best_\\*.pth and no last_checkpoint'),
        (lambda p: _write(p / 'last_checkpoint', ''), 'is empty'),
        (lambda p: _write(p / 'last_checkpoint', str(p / 'gone.pth')), 'does not exist'),
    ],
)
def test_nothing_usable_is_a_clear_error(tmp_path, make, message):
    with pytest.raises(FileNotFoundError, match=message):
        resolve_checkpoint(make(tmp_path))
    with pytest.raises(ValueError, match="'best' or 'last'"):
        resolve_checkpoint(str(tmp_path), prefer='newest')


def test_teacher_weights_must_fit_exactly(tmp_path):
    source = torch.nn.Linear(3, 2)
    path = str(tmp_path / 'teacher.pth')
    state = {'module.' + k: v for k, v in source.state_dict().items()}  # a DDP-saved file
    torch.save({'state_dict': state, 'meta': {}}, path)
    target = torch.nn.Linear(3, 2)
    load_teacher_weights(target, path)
    assert torch.equal(target.weight, source.weight) and torch.equal(target.bias, source.bias)
    with pytest.raises(RuntimeError, match=r"other shapes \['weight'\]"):
        load_teacher_weights(torch.nn.Linear(4, 2), path)
    with pytest.raises(RuntimeError, match=r"missing keys \['0.weight'"):
        load_teacher_weights(torch.nn.Sequential(torch.nn.Linear(3, 2)), path)


def test_frozen_teacher_needs_a_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='FrozenTeacherHook'):
        build_frozen_teacher(dict(type='LCR2STeacher'), str(tmp_path))
