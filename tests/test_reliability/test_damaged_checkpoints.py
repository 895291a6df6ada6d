# Copyright (c) tpr_mm contributors. All rights reserved.
"""Damaged or incomplete checkpoints and config typos: clear errors, or a logged fallback."""

import glob
import os
import runpy
import shutil
import sys

import pytest
import torch

from tpr_mm.engine.runner import CheckpointMismatchError
from tpr_mm.fileio import CheckpointReadError, UnsafeCheckpointError, safe_torch_load
from tpr_mm.registry import MODELS, RUNNERS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_tool(monkeypatch, script: str, *args) -> None:
    """``python tools/<script> args`` in this process (saves a new process's start-up)."""
    monkeypatch.setattr(sys, 'argv', [script] + [str(a) for a in args])
    runpy.run_path(os.path.join(ROOT, 'tools', script), run_name='__main__')


def newest_log(work_dir) -> str:
    with open(sorted(glob.glob(os.path.join(str(work_dir), '2*', '2*.log')))[-1]) as f:
        return f.read()


def _good_checkpoint(tmp_path) -> bytes:
    path = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.arange(1000.0)}, 'meta': {}}, path)
    return path.read_bytes()


@pytest.mark.parametrize(
    'kind,expected',
    [
        ('empty', 'the file is empty (0 bytes'),
        ('text', "the file holds text, not a PyTorch checkpoint (it starts with b'version"),
        ('half', 'the file is truncated ('),
        ('last_bytes_cut', 'the file is truncated ('),
        ('legacy_truncated', 'damaged or truncated checkpoint ('),
        ('random', 'not a PyTorch checkpoint (unknown format'),
    ],
)
def test_damaged_file_names_the_file_and_the_damage(kind, expected, tmp_path):
    good = _good_checkpoint(tmp_path)
    path = tmp_path / f'{kind}.pth'
    if kind == 'legacy_truncated':
        torch.save({'w': torch.zeros(10)}, path, _use_new_zipfile_serialization=False)
        path.write_bytes(path.read_bytes()[:200])
    else:
        data = {
            'empty': b'',
            'text': b'version https://git-lfs.github.com/spec/v1\noid sha256:0\n',
            'half': good[: len(good) // 2],
            'last_bytes_cut': good[:-10],
            'random': bytes(range(7, 200)),
        }[kind]
        path.write_bytes(data)
    with pytest.raises(CheckpointReadError) as err:
        safe_torch_load(path)
    assert str(err.value).startswith(f'{path}: {expected}'), str(err.value)
    assert not isinstance(err.value, UnsafeCheckpointError)


@pytest.fixture
def tool_cfg(tiny_cfg, tmp_path):
    def make(name='cfg', **options):
        cfg = tiny_cfg(tmp_path / f'work_{name}')
        cfg.merge_from_dict(options)
        path = str(tmp_path / f'{name}.py')
        cfg.dump(path)
        return path, cfg

    return make


def test_test_tool_with_an_empty_checkpoint(tool_cfg, tmp_path, monkeypatch):
    path = tmp_path / 'epoch_9.pth'
    path.write_bytes(b'')
    with pytest.raises(CheckpointReadError, match=r'epoch_9.pth: the file is empty \(0 bytes'):
        run_tool(monkeypatch, 'test.py', tool_cfg()[0], path)


def test_test_tool_with_3_of_the_models_tensors(tool_cfg, tmp_path, monkeypatch, capsys):
    cfg_path, cfg = tool_cfg()
    state = MODELS.build(cfg.model).state_dict()
    kept = list(state)[-3:]
    path = str(tmp_path / 'three.pth')
    torch.save({'state_dict': {k: state[k] + 1 for k in kept}, 'meta': {}}, path)
    with pytest.raises(CheckpointMismatchError) as err:
        run_tool(monkeypatch, 'test.py', cfg_path, path)
    message = str(err.value)
    assert f"{len(state) - 3} of the model's {len(state)} tensors are missing" in message
    assert f'(first: {list(state)[0]}, ' in message
    assert 'allow_missing_keys=True' in message
    assert 'Text-to-image retrieval' not in capsys.readouterr().out  # no results table

    # The explicit opt-in evaluates (the 3 tensors loaded, the rest as initialised). Its own
    # experiment name: within the same second, the first run's would name MMEngine's logger,
    # visualizer and scope instances again (a warning).
    options = ['allow_missing_keys=True', f'experiment_name={cfg.experiment_name}_optin']
    run_tool(monkeypatch, 'test.py', cfg_path, path, '--cfg-options', *options)
    assert 'Text-to-image retrieval on the test split' in capsys.readouterr().out


def test_unknown_checkpoint_hook_argument_fails_before_training(tiny_cfg, tmp_path):
    cfg = tiny_cfg(tmp_path / 'work')
    cfg.default_hooks.checkpoint['intervl'] = 1
    with pytest.raises(
        TypeError, match=r"unknown argument\(s\) 'intervl' \(did you mean 'interval'"
    ):
        RUNNERS.build(cfg)
    assert not glob.glob(str(tmp_path / 'work' / '*.pth'))


# --- resume -----------------------------------------------------------------------------


@pytest.fixture(scope='module')
def trained(tiny_cfg, tmp_path_factory):
    """A work dir after 2 epochs: epoch_1.pth, epoch_2.pth, last_checkpoint -> epoch_2."""
    work = tmp_path_factory.mktemp('trained') / 'work'
    cfg = tiny_cfg(work)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint['save_best'] = None
    RUNNERS.build(cfg).train()
    return str(work)


@pytest.fixture
def resume_from_copy(trained, tool_cfg, tmp_path, monkeypatch):
    """Copy the trained work dir; ``run()`` resumes it with tools/train.py --resume."""
    work = str(tmp_path / 'copy')
    shutil.copytree(trained, work)
    with open(os.path.join(work, 'last_checkpoint'), 'w') as f:
        f.write(os.path.join(work, 'epoch_2.pth'))
    cfg_path, _ = tool_cfg('resume', val_dataloader=None, val_cfg=None, val_evaluator=None)

    def run(*extra):
        run_tool(monkeypatch, 'train.py', cfg_path, '--work-dir', work, '--resume', *extra)

    run.work = work
    return run


def test_resume_skips_a_truncated_newest_checkpoint(resume_from_copy, trained):
    work = resume_from_copy.work
    newest = os.path.join(work, 'epoch_2.pth')
    with open(newest, 'r+b') as f:
        f.truncate(os.path.getsize(newest) // 2)
    resume_from_copy()
    log = newest_log(work)
    assert f'could not resume from {newest}: the file is truncated (' in log
    assert f'Resumed from the newest intact checkpoint {work}/epoch_1.pth instead.' in log
    # Epoch 2 was trained again from epoch 1 and saved: the same weights as the first time.
    again, first = safe_torch_load(newest), safe_torch_load(os.path.join(trained, 'epoch_2.pth'))
    assert again['meta']['iter'] == 12
    assert all(torch.equal(v, first['state_dict'][k]) for k, v in again['state_dict'].items())


def test_resume_with_an_empty_last_checkpoint_scans_the_work_dir(resume_from_copy):
    work = resume_from_copy.work
    open(os.path.join(work, 'last_checkpoint'), 'w').close()
    resume_from_copy('--cfg-options', 'train_cfg.max_epochs=3')
    log = newest_log(work)
    assert f'could not resume from {work}/last_checkpoint is empty.' in log
    assert f'Resumed from the newest intact checkpoint {work}/epoch_2.pth instead.' in log
    assert safe_torch_load(os.path.join(work, 'epoch_3.pth'))['meta']['iter'] == 18


def test_resume_with_nothing_intact_is_a_clear_error(resume_from_copy):
    work = resume_from_copy.work
    for name in ('epoch_1.pth', 'epoch_2.pth'):
        open(os.path.join(work, name), 'w').close()
    with pytest.raises(CheckpointReadError) as err:
        resume_from_copy()
    message = str(err.value)
    assert message.startswith(f'cannot resume: {work}/last_checkpoint names {work}/epoch_2.pth')
    assert f'{work}/epoch_1.pth: the file is empty (0 bytes' in message
    assert 'delete last_checkpoint to start from scratch' in message


def test_resume_from_a_named_damaged_file_does_not_fall_back(resume_from_copy):
    named = os.path.join(resume_from_copy.work, 'epoch_2.pth')
    open(named, 'w').close()
    with pytest.raises(CheckpointReadError, match=r'epoch_2.pth: the file is empty'):
        resume_from_copy(named)


def test_resume_never_skips_a_crafted_newest_checkpoint(resume_from_copy):
    class Touch:
        def __reduce__(self):
            return open, (os.path.join(resume_from_copy.work, 'marker'), 'w')

    newest = os.path.join(resume_from_copy.work, 'epoch_2.pth')
    torch.save({'state_dict': {}, 'meta': {'x': Touch()}}, newest)
    with pytest.raises(UnsafeCheckpointError, match='epoch_2.pth: refused'):
        resume_from_copy()
    assert not os.path.exists(os.path.join(resume_from_copy.work, 'marker'))
