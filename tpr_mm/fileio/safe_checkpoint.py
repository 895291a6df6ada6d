# Copyright (c) tpr_mm contributors. All rights reserved.
"""Reading PyTorch checkpoints: always weights-only, with clear errors for damaged files.

:func:`safe_torch_load` is the one place tpr_mm reads a ``.pth`` file. It

* passes ``weights_only=True`` explicitly (PyTorch >= 2.6 then ignores
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``, which only overrides call sites that
  leave ``weights_only`` unset — ``torch/serialization.py``), with MMEngine's
  meta types allowlisted (:func:`~tpr_mm.fileio.safe_globals.mmengine_safe_globals`);
* checks the file first, so that an empty, text or truncated file is a
  :class:`CheckpointReadError` naming the file and the damage instead of an
  ``EOFError`` or ``KeyError`` from deep inside the unpickler;
* turns a refusal of the weights-only unpickler into an
  :class:`UnsafeCheckpointError` naming the file and the refused object.

MMEngine 0.10.x loads checkpoints without ``weights_only=True`` (local
files) or with weights-only unpickling turned off (URLs, through ``torch.hub``). On
import, :func:`~tpr_mm.fileio.checkpoint_schemes.register_safe_mmengine_loaders`
replaces each of its schemes, so ``Runner.load_checkpoint`` / ``resume``,
``mmengine.runner.load_checkpoint`` and ``init_cfg=dict(type='Pretrained')``
read every file, local or downloaded, with :func:`safe_torch_load`.
"""

import os
import os.path as osp
import pickle
import re
import zipfile
from typing import Any, Optional, Union

import torch

from .safe_globals import mmengine_safe_globals

__all__ = [
    'CheckpointReadError',
    'UnsafeCheckpointError',
    'describe_checkpoint_damage',
    'load_from_local_safe',
    'safe_torch_load',
]

_FORCE_UNSAFE_ENV = 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'


class CheckpointReadError(RuntimeError):
    """The file is not a readable PyTorch checkpoint (empty, text, truncated...)."""


class UnsafeCheckpointError(CheckpointReadError):
    """The file holds objects the weights-only unpickler refuses; nothing was run."""


def describe_checkpoint_damage(path: str) -> Optional[str]:
    """What is wrong with ``path`` as a ``torch.save`` file, or None if it looks intact.

    Cheap: reads the first bytes and the zip directory, not the tensors.
    """
    size = osp.getsize(path)
    if size == 0:
        return 'the file is empty (0 bytes; an interrupted copy or save?)'
    with open(path, 'rb') as f:
        head = f.read(64)
    if head.startswith(b'PK\x03\x04'):  # torch.save's zip format (PyTorch >= 1.6)
        if not zipfile.is_zipfile(path):
            return f'the file is truncated ({size} bytes; its zip directory is missing)'
        with zipfile.ZipFile(path) as zf:
            if not any(n == 'data.pkl' or n.endswith('/data.pkl') for n in zf.namelist()):
                return 'the zip archive holds no data.pkl (not written by torch.save)'
        return None
    if head.startswith(b'\x80\x02'):  # torch.save's legacy format: protocol-2 pickle
        return None
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    if printable == len(head):
        return f'the file holds text, not a PyTorch checkpoint (it starts with {head[:32]!r})'
    return f'not a PyTorch checkpoint (unknown format; it starts with {head[:16]!r})'


def _refusal_reason(message: str) -> str:
    """The object PyTorch refused, without its generic advice around it."""
    text = re.sub(r'\x1b\[[0-9;]*m', '', message).split('Check the documentation')[0]
    if 'WeightsUnpickler error:' in text:
        text = text.split('WeightsUnpickler error:', 1)[1]
    else:  # e.g. "Trying to load unsupported GLOBAL posix.system whose module ... is blocked."
        text = [p for p in text.split('\n\n') if p.strip()][-1]
    text = text.split('. Please use')[0]
    return ' '.join(text.split()).rstrip('.')


def safe_torch_load(path: Union[str, os.PathLike], map_location: Any = 'cpu') -> Any:
    """``torch.load(path, map_location, weights_only=True)`` with MMEngine's meta types.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        CheckpointReadError: the file is empty, text, truncated or unreadable.
        UnsafeCheckpointError: it holds objects other than tensors and
            MMEngine's meta types (a crafted file); none of them was created.
    """
    path = osp.expanduser(os.fspath(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    damage = describe_checkpoint_damage(path)
    if damage is not None:
        raise CheckpointReadError(f'{path}: {damage}')
    try:
        with mmengine_safe_globals():
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        if 'Weights only load failed' not in str(exc):
            raise CheckpointReadError(f'{path}: damaged checkpoint ({exc})') from exc
        raise UnsafeCheckpointError(
            f"{path}: refused by PyTorch's weights-only unpickler (a crafted or damaged file); "
            f'nothing in the file was run: {_refusal_reason(str(exc))}. tpr_mm checkpoints '
            "hold only tensors and MMEngine's meta; do not load this file without "
            'weights-only unpickling unless you trust its source.'
        ) from exc
    except (EOFError, OSError, RuntimeError, ValueError, KeyError, IndexError) as exc:
        raise CheckpointReadError(
            f'{path}: damaged or truncated checkpoint ({type(exc).__name__}: {exc})'
        ) from exc


def load_from_local_safe(filename: str, map_location: Any = None) -> Any:
    """MMEngine ``CheckpointLoader`` scheme for local paths (``''`` prefix)."""
    return safe_torch_load(filename, map_location=map_location)
