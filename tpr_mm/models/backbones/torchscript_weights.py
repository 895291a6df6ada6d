# Copyright (c) tpr_mm contributors. All rights reserved.
"""Read the weights of a TorchScript archive without ``torch.jit.load``.

``torch.jit.load`` compiles the archive's code and runs any ``__setstate__``
it defines, so a crafted archive (for instance a file named ``ViT-B-16.pt``)
can read files while its "weights" load. This reader runs nothing from the
archive:

* ``<root>/data.pkl`` is unpickled by :class:`_WeightsUnpickler`, which
  resolves only tensor rebuilding (``torch._utils._rebuild_tensor_v2``, with
  our own implementation), storage-type names, ``OrderedDict`` and
  TorchScript's list/type-tag helpers (by our own pure implementations).
  Module objects (``__torch__.*`` classes) become inert records of their
  attributes; storages are read from ``<root>/data/<key>`` as raw bytes.
* Which attributes are parameters or buffers is read from the
  ``__parameters__`` / ``__buffers__`` declarations of the archive's
  serialized class headers (``<root>/code/**.py``, read as text, never
  executed); other tensor attributes (e.g. OpenAI's ``attn_mask``) are not
  weights, as in ``torch.jit.load(...).state_dict()``.
* An archive whose classes define ``__setstate__`` (custom code run at load)
  is refused.
"""

import pickle
import re
import sys
import zipfile
from collections import OrderedDict
from typing import Any, Dict, Iterator, Set, Tuple

import torch
from torch import Tensor

__all__ = ['TorchScriptArchiveError', 'read_torchscript_state_dict']

_DTYPES = {
    'FloatStorage': torch.float32,
    'DoubleStorage': torch.float64,
    'HalfStorage': torch.float16,
    'BFloat16Storage': torch.bfloat16,
    'LongStorage': torch.int64,
    'IntStorage': torch.int32,
    'ShortStorage': torch.int16,
    'CharStorage': torch.int8,
    'ByteStorage': torch.uint8,
    'BoolStorage': torch.bool,
}
_KEY = re.compile(r'^[A-Za-z0-9_]+$')
_CLASS = re.compile(r'^class (\w+)\(Module\):', re.M)
_DECL = re.compile(r'^  __(parameters|buffers)__ = \[(.*?)\]', re.M)


class TorchScriptArchiveError(ValueError):
    """The archive cannot be read as weights without running its code."""


class _ScriptObject:
    """Inert stand-in for an archived ``__torch__`` object: just its state."""

    qualname = ''
    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _record_class(qualname: str) -> type:
    return type('ScriptObject', (_ScriptObject,), {'qualname': qualname})


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    # ``storage`` is the flat tensor made by persistent_load; as_strided
    # checks that the view stays inside it.
    return storage.as_strided(tuple(size), tuple(stride), int(offset))


def _restore_type_tag(value: Any, type_str: str) -> Any:
    return value


class _StorageType:
    def __init__(self, dtype: torch.dtype) -> None:
        self.dtype = dtype


class _WeightsUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, archive: zipfile.ZipFile, root: str, source: str) -> None:
        import io

        super().__init__(io.BytesIO(data))
        self.archive, self.root, self.source = archive, root, source
        self.storages: Dict[str, Tensor] = {}
        self.classes: Dict[str, type] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == '__torch__' or module.startswith('__torch__.'):
            key = f'{module}.{name}'
            if key not in self.classes:
                self.classes[key] = _record_class(key)
            return self.classes[key]
        if (module, name) == ('torch._utils', '_rebuild_tensor_v2'):
            return _rebuild_tensor_v2
        if module == 'torch' and name in _DTYPES:
            return _StorageType(_DTYPES[name])
        if (module, name) == ('collections', 'OrderedDict'):
            return OrderedDict
        if module == 'torch.jit._pickle' and name.startswith('build_') and name.endswith('list'):
            return list
        if (module, name) == ('torch.jit._pickle', 'restore_type_tag'):
            return _restore_type_tag
        raise TorchScriptArchiveError(
            f'{self.source}: refusing to resolve {module}.{name} while reading weights '
            '(only tensors, storages and module records are allowed)'
        )

    def persistent_load(self, pid: Any) -> Tensor:
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == 'storage'):
            raise TorchScriptArchiveError(f'{self.source}: unexpected persistent id {pid!r}')
        storage_type, key = pid[1], str(pid[2])
        if not isinstance(storage_type, _StorageType) or not _KEY.match(key):
            raise TorchScriptArchiveError(f'{self.source}: bad storage reference {pid!r}')
        if key not in self.storages:
            raw = bytearray(self.archive.read(f'{self.root}/data/{key}'))
            dtype = storage_type.dtype
            flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
            self.storages[key] = flat
        return self.storages[key]


def _declarations(archive: zipfile.ZipFile, root: str, source: str) -> Dict[str, Set[str]]:
    """``{'__torch__.a.b.Cls': {weight names}}`` from the serialized class headers."""
    weights: Dict[str, Set[str]] = {}
    prefix = f'{root}/code/'
    for name in archive.namelist():
        if not (name.startswith(prefix) and name.endswith('.py')):
            continue
        module = name[len(prefix) : -len('.py')].replace('/', '.')
        text = archive.read(name).decode('utf-8', errors='replace')
        blocks = _CLASS.split(text)[1:]  # [name, body, name, body, ...]
        for cls, body in zip(blocks[::2], blocks[1::2]):
            if re.search(r'^  def __setstate__\(', body, re.M):
                raise TorchScriptArchiveError(
                    f'{source}: class {module}.{cls} defines __setstate__, code that '
                    'torch.jit.load would run; refusing to read this archive'
                )
            names = set()
            for _, listed in _DECL.findall(body):
                names |= set(re.findall(r'"([^"]+)"', listed))
            weights[f'{module}.{cls}'] = names
    return weights


def _walk(obj: _ScriptObject, decl: Dict[str, Set[str]], prefix: str) -> Iterator[Tuple[str, Any]]:
    if not isinstance(obj.state, dict):
        raise TorchScriptArchiveError(f'{obj.qualname} has a custom state; cannot read weights')
    if obj.qualname not in decl:
        raise TorchScriptArchiveError(f'no class header for {obj.qualname} in the archive')
    for key, value in obj.state.items():
        if isinstance(value, _ScriptObject):
            yield from _walk(value, decl, f'{prefix}{key}.')
        elif key in decl[obj.qualname] and isinstance(value, Tensor):
            yield f'{prefix}{key}', value


def read_torchscript_state_dict(path: str) -> Dict[str, Tensor]:
    """The parameters and buffers of a TorchScript archive, as ``state_dict()`` would give.

    Raises:
        TorchScriptArchiveError: the archive defines ``__setstate__`` code,
            pickles anything but tensors and module records, or is malformed.
    """
    with zipfile.ZipFile(path) as archive:
        pkls = [n for n in archive.namelist() if n.count('/') == 1 and n.endswith('/data.pkl')]
        if len(pkls) != 1:
            raise TorchScriptArchiveError(f'{path}: expected one <root>/data.pkl, found {pkls}')
        root = pkls[0].split('/')[0]
        if f'{root}/byteorder' in archive.namelist():
            order = archive.read(f'{root}/byteorder').decode(errors='replace').strip()
            if order != sys.byteorder:
                raise TorchScriptArchiveError(f'{path}: stored {order}-endian, not supported')
        decl = _declarations(archive, root, path)
        unpickler = _WeightsUnpickler(archive.read(pkls[0]), archive, root, path)
        try:
            top = unpickler.load()
        except (pickle.UnpicklingError, EOFError, KeyError, RuntimeError, TypeError) as exc:
            raise TorchScriptArchiveError(f'{path}: cannot read its data.pkl ({exc})') from exc
    if not isinstance(top, _ScriptObject):
        raise TorchScriptArchiveError(f'{path}: data.pkl does not hold a scripted module')
    try:
        return {key: value.clone() for key, value in _walk(top, decl, '')}
    except TorchScriptArchiveError as exc:
        raise TorchScriptArchiveError(f'{path}: {exc}') from exc
