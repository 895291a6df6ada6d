# Copyright (c) tpr_mm contributors. All rights reserved.
"""A crash while saving never destroys the previous checkpoint."""

import os
import signal
import textwrap
from types import SimpleNamespace

import pytest
from mmengine.hooks import CheckpointHook
from mmengine.logging import MessageHub, MMLogger

from tpr_mm.engine.hooks import TPRCheckpointHook
from tpr_mm.fileio import AtomicLocalBackend, atomic_write_bytes

# Replaces builtins.open so that the first write to a file opened for writing
# writes half of its data, then the process SIGKILLs itself.
DIE_MID_WRITE = textwrap.dedent("""
    import builtins, os, signal, sys
    from mmengine.fileio import get_file_backend
    import tpr_mm.fileio  # registers 'atomic_local'

    backend_name, target = sys.argv[1], sys.argv[2]
    backend = get_file_backend(target, backend_args=dict(backend=backend_name))
    real_open = builtins.open

    class Dying:
        def __init__(self, f):
            self.f = f
        def write(self, data):
            self.f.write(data[:len(data) // 2])
            self.f.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        def __getattr__(self, name):
            return getattr(self.f, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    def dying_open(file, mode='r', *args, **kwargs):
        f = real_open(file, mode, *args, **kwargs)
        return Dying(f) if 'w' in mode else f

    builtins.open = dying_open
    backend.put(b'N' * 100000, target)
""")


@pytest.mark.parametrize('backend', ['atomic_local', 'local'])
def test_sigkill_mid_write(backend, tool, tmp_path):
    target = tmp_path / 'epoch_1.pth'
    target.write_bytes(b'O' * 1000)
    proc = tool(['-c', DIE_MID_WRITE, backend, str(target)], timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    if backend == 'atomic_local':
        assert target.read_bytes() == b'O' * 1000  # the previous file is intact
        leftovers = [p for p in os.listdir(tmp_path) if p != 'epoch_1.pth']
        assert len(leftovers) == 1 and leftovers[0].startswith('.epoch_1.pth.')
        assert leftovers[0].endswith('.tmp')
    else:  # MMEngine's plain backend: the crash leaves a truncated file
        assert target.read_bytes() == b'N' * 50000


def test_atomic_write_failure_keeps_old_file_and_cleans_up(tmp_path, monkeypatch):
    target = tmp_path / 'last_checkpoint'
    target.write_text('old')

    def broken_fsync(fd):
        raise OSError(28, 'No space left on device')

    monkeypatch.setattr(os, 'fsync', broken_fsync)
    with pytest.raises(OSError, match='No space left'):
        AtomicLocalBackend().put_text('new', target)
    assert target.read_text() == 'old'
    assert os.listdir(tmp_path) == ['last_checkpoint']


def test_atomic_write_creates_folder_and_normal_permissions(tmp_path):
    target = tmp_path / 'a' / 'b.pth'
    atomic_write_bytes(b'x', target)
    assert target.read_bytes() == b'x'
    umask = os.umask(0)
    os.umask(umask)
    assert (os.stat(target).st_mode & 0o777) == (0o666 & ~umask)


def _fake_runner(tmp_path, name):
    """Just what CheckpointHook touches; save_checkpoint records the folder."""
    seen = []

    def save_checkpoint(out_dir, filename, *args, **kwargs):
        seen.append(sorted(os.listdir(out_dir)))
        atomic_write_bytes(filename.encode(), os.path.join(out_dir, filename))

    return SimpleNamespace(
        work_dir=str(tmp_path),
        epoch=0,
        iter=0,
        rank=0,
        message_hub=MessageHub.get_instance(name),
        logger=MMLogger.get_instance(name, log_level='WARNING'),
        save_checkpoint=save_checkpoint,
    ), seen


@pytest.mark.parametrize('hook_cls', [TPRCheckpointHook, CheckpointHook])
def test_old_checkpoints_are_removed_only_after_the_new_one_exists(hook_cls, tmp_path):
    runner, seen = _fake_runner(tmp_path, f'rotation_{hook_cls.__name__}')
    hook = hook_cls(interval=1, max_keep_ckpts=1, save_best='R1', rule='greater')
    hook.before_train(runner)
    for epoch, score in ((0, 10.0), (1, 20.0)):
        runner.epoch, runner.iter = epoch, 6 * (epoch + 1)
        hook._save_checkpoint(runner)
        runner.epoch += 1
        hook._save_best_checkpoint(runner, {'R1': score})
    assert sorted(os.listdir(tmp_path)) == ['best_R1_epoch_2.pth', 'epoch_2.pth', 'last_checkpoint']
    assert (tmp_path / 'last_checkpoint').read_text().endswith('epoch_2.pth')
    folder_when_saving_epoch_2 = seen[3]
    folder_when_saving_best_2 = seen[4]
    if hook_cls is TPRCheckpointHook:  # the previous ones still exist while saving
        assert 'epoch_1.pth' in folder_when_saving_epoch_2
        assert 'best_R1_epoch_1.pth' in folder_when_saving_best_2
    else:  # MMEngine deletes first: a crash here leaves no checkpoint to resume
        assert 'epoch_1.pth' not in folder_when_saving_epoch_2
        assert 'best_R1_epoch_1.pth' not in folder_when_saving_best_2
