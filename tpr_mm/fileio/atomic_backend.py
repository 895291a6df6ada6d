# Copyright (c) tpr_mm contributors. All rights reserved.
"""Crash-safe local writes: temporary file, fsync, then rename.

``os.replace`` is atomic on POSIX and Windows when source and target are on
the same file system, so a reader (or a resumed run) sees either the old
complete file or the new complete file, never a truncated one — also when the
writer is killed (SIGKILL, OOM killer, power loss after the fsync) in the
middle of writing. The temporary file lives next to the target, named
``.<name>.<random>.tmp``; a crash can leave one behind, which is harmless and
never matches a checkpoint name.

:class:`AtomicLocalBackend` is registered as the MMEngine file backend
``'atomic_local'`` on import; :class:`~tpr_mm.engine.runner.TPRRunner` uses it
for local checkpoints unless ``backend_args`` names another backend.
"""

import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

__all__ = ['AtomicLocalBackend', 'atomic_write_bytes', 'atomic_write_text']


def _default_file_mode() -> int:
    # mkstemp creates 0600 files; give the final file the usual 0666 & ~umask.
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


_FILE_MODE = _default_file_mode()


def _fsync_dir(folder: str) -> None:
    """Persist the rename itself (POSIX); a no-op where directories cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` so that it is replaced all at once.

    Args:
        data (bytes): Content.
        filepath (str | Path): Target; its folder is created if missing.

    Raises:
        OSError: the write failed; the previous ``filepath`` (if any) is left
            untouched and the temporary file removed.
    """
    filepath = os.fspath(filepath)
    folder = osp.dirname(osp.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(filepath)}.', suffix='.tmp')
    try:
        with open(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, filepath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(folder)


def atomic_write_text(text: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
    """Text counterpart of :func:`atomic_write_bytes`."""
    atomic_write_bytes(text.encode(encoding), filepath)


class AtomicLocalBackend(LocalBackend):
    """MMEngine's :class:`~mmengine.fileio.LocalBackend` with atomic ``put``.

    Select it with ``backend_args=dict(backend='atomic_local')``. Reads,
    listing and removal are unchanged.
    """

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        """Write bytes atomically (see :func:`atomic_write_bytes`)."""
        atomic_write_bytes(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        """Write text atomically (see :func:`atomic_write_text`)."""
        atomic_write_text(obj, filepath, encoding)


register_backend('atomic_local', AtomicLocalBackend, force=True)
