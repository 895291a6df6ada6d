# Copyright (c) tpr_mm contributors. All rights reserved.
"""An advisory lock on a gallery-index folder, so that processes take turns.

A save holds it exclusively from journaling its file names to deleting the
replaced faiss file; a load holds it shared while it reads the metadata and
the faiss file it names. Without it, two saves into one folder could delete
each other's new files (each clears what the other journaled), and a load
could find its faiss file deleted by a save between the two reads.

The lock is ``flock`` on ``index.lock`` in the folder: the kernel releases it
when its holder exits, however it exits, so a killed process leaves no stale
lock. The file is created empty if missing and never written or deleted (an
existing file of that name keeps its contents). Where ``fcntl`` does not
exist (Windows) or the folder is read-only, loads go unlocked.
"""

import contextlib
import errno
import os
import os.path as osp
import time
from typing import Iterator, Optional

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_FILE = 'index.lock'
#: Seconds a save or load waits for the folder before giving up.
DEFAULT_TIMEOUT_S = 600.0
_POLL_S = 0.05


class IndexBusyError(TimeoutError):
    """Another process held the index folder for longer than the timeout."""


def _open_lock(index_dir: str, exclusive: bool):
    path = osp.join(index_dir, LOCK_FILE)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        if exclusive or err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise
    try:  # a read-only folder: lock the file if it is there, else read unlocked
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


@contextlib.contextmanager
def index_lock(index_dir: str, exclusive: bool, timeout: Optional[float] = None) -> Iterator[None]:
    """Hold ``index_dir``'s lock: ``exclusive`` for a save, shared for a load.

    Args:
        index_dir (str): An existing folder.
        exclusive (bool): True for writers, False for readers.
        timeout (float, optional): Seconds to wait for other holders; None
            takes :data:`DEFAULT_TIMEOUT_S`.

    Raises:
        IndexBusyError: The lock was not free within ``timeout`` seconds
            (nothing was read or written).
    """
    timeout = DEFAULT_TIMEOUT_S if timeout is None else timeout
    fd = _open_lock(index_dir, exclusive) if fcntl is not None else None
    if fd is None:
        yield
        return
    mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                fcntl.flock(fd, mode)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    what = 'save into' if exclusive else 'read'
                    raise IndexBusyError(
                        f'{index_dir}: could not {what} the gallery index: another process has '
                        f'held {osp.join(index_dir, LOCK_FILE)} for over {timeout:g} s (a save '
                        'or load in progress); try again when it has finished'
                    ) from None
                time.sleep(_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
