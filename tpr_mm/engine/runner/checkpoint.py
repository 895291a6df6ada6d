# Copyright (c) tpr_mm contributors. All rights reserved.
"""Finding the checkpoint a finished run left in its work dir.

A run's work dir holds MMEngine's ``last_checkpoint`` pointer (a text file
with the path of the newest checkpoint) and, with ``save_best``, the
val-selected ``best_*.pth``. Two-stage training (LCR²S: the student reads
its teacher's checkpoint), the pretrained stand-in and the tests pick a
checkpoint from such a folder with :func:`resolve_checkpoint`; loading
itself goes through MMEngine's public ``load_checkpoint`` (see
:func:`tpr_mm.models.retrievers.frozen_teacher.load_teacher_weights`).
"""

import glob
import os
import os.path as osp

__all__ = ['resolve_checkpoint']


def read_checkpoint_pointer(path: str) -> str:
    """Resolve MMEngine's ``last_checkpoint`` text file (it holds a path).

    Args:
        path (str): The pointer file.

    Returns:
        str: The checkpoint file it names; a relative path that does not
        exist from the current folder is tried next to the pointer.

    Raises:
        FileNotFoundError: the pointer is empty or names a missing file.
    """
    with open(path) as f:
        target = f.read().strip()
    if not target:
        raise FileNotFoundError(f'checkpoint pointer {path} is empty')
    if not osp.isabs(target) and not osp.exists(target):
        # Written relative to the training's cwd; try next to the pointer too.
        sibling = osp.join(osp.dirname(path), osp.basename(target))
        target = sibling if osp.exists(sibling) else target
    if not osp.isfile(target):
        raise FileNotFoundError(f'{path} points to {target}, which does not exist')
    return target


def resolve_checkpoint(path: str, prefer: str = 'best') -> str:
    """Turn a checkpoint file, a ``last_checkpoint`` pointer or a work dir into a file.

    For a work dir, ``prefer='best'`` returns the val-selected ``best_*.pth``
    (the newest if there are several) and falls back to the last checkpoint;
    ``prefer='last'`` returns the last checkpoint.

    Args:
        path (str): ``.pth`` file, ``.../last_checkpoint`` or a work dir.
        prefer (str): ``'best'`` or ``'last'``.

    Returns:
        str: Path of a checkpoint file.

    Raises:
        FileNotFoundError: nothing usable at ``path``.
    """
    if prefer not in ('best', 'last'):
        raise ValueError(f"prefer must be 'best' or 'last', got {prefer!r}")
    if osp.isdir(path):
        best = sorted(glob.glob(osp.join(path, 'best_*.pth')), key=os.path.getmtime)
        if prefer == 'best' and best:
            return best[-1]
        pointer = osp.join(path, 'last_checkpoint')
        if osp.isfile(pointer):
            return read_checkpoint_pointer(pointer)
        raise FileNotFoundError(f'no best_*.pth and no last_checkpoint in work dir {path}')
    if osp.isfile(path):
        if osp.basename(path) == 'last_checkpoint':
            return read_checkpoint_pointer(path)
        return path
    raise FileNotFoundError(
        f'checkpoint {path} not found (expected a .pth file, a last_checkpoint file or a work dir)'
    )
