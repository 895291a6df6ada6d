# Copyright (c) tpr_mm contributors. All rights reserved.
"""MMEngine's checkpoint URL schemes, re-registered to read weights-only.

MMEngine 0.10.x's loaders for remote checkpoints do not load safely:
``http(s)://`` (and ``torchvision://``, ``modelzoo://``, ``open-mmlab://``,
``mmcls://``, which resolve to URLs) call ``torch.hub.load_state_dict_from_url``,
whose ``weights_only`` defaults to ``False`` and is passed on to ``torch.load``
explicitly — a crafted file downloaded from a URL in a config would run code.
``s3://`` / ``petrel://`` and ``pavi://`` call ``torch.load`` without
``weights_only``. :func:`register_safe_mmengine_loaders` replaces every one of
them through MMEngine's public ``CheckpointLoader.register_scheme(force=True)``:
each scheme is resolved as MMEngine resolves it (same model-zoo tables, same
download cache, ``<torch hub dir>/checkpoints``), the file is fetched, and it
is read by :func:`~tpr_mm.fileio.safe_checkpoint.safe_torch_load`
(``weights_only=True``, MMEngine's meta types allowlisted, damage checks).

In a distributed run rank 0 downloads first and tells the other ranks whether
it succeeded, so that none waits for ever on a failed download.
"""

import logging
import os
import os.path as osp
import tempfile
from collections import OrderedDict
from typing import Any, Optional
from urllib.parse import urlparse

import torch
from mmengine.dist import broadcast_object_list, get_dist_info
from mmengine.logging import print_log
from mmengine.runner import checkpoint as mmengine_checkpoint

from .safe_checkpoint import load_from_local_safe, safe_torch_load

__all__ = ['download_checkpoint', 'load_from_http', 'register_safe_mmengine_loaders']


def download_checkpoint(url: str, model_dir: Optional[str] = None, progress: bool = False) -> str:
    """The local copy of ``url`` in the download cache, downloaded if absent.

    Args:
        url (str): An ``http(s)://`` address whose path ends in the file name.
        model_dir (str, optional): Cache folder. Defaults to
            ``<torch.hub.get_dir()>/checkpoints``, where MMEngine and
            ``torch.hub`` keep theirs (a file they downloaded is reused).
        progress (bool): Show a download progress bar.

    Returns:
        str: The cached file's path.
    """
    name = osp.basename(urlparse(url).path)
    if not name:
        raise ValueError(f'{url}: the URL names no file to download')
    model_dir = model_dir or osp.join(torch.hub.get_dir(), 'checkpoints')
    os.makedirs(model_dir, exist_ok=True)
    cached = osp.join(model_dir, name)
    if not osp.isfile(cached):
        print_log(f'downloading {url} to {cached}', logger='current')
        # Writes a temporary file and renames it: an interrupted download leaves no partial file.
        torch.hub.download_url_to_file(url, cached, progress=progress)
    return cached


def _download_rank0_first(url: str, model_dir: Optional[str]) -> str:
    """Rank 0 downloads, then the others (from the shared cache, or their own)."""
    rank, world_size = get_dist_info()
    if world_size == 1:
        return download_checkpoint(url, model_dir)
    failure = [None]
    if rank == 0:
        try:
            path = download_checkpoint(url, model_dir)
        except Exception as err:
            broadcast_object_list([f'{type(err).__name__}: {err}'], src=0)
            raise
    broadcast_object_list(failure, src=0)  # also the barrier after rank 0's download
    if failure[0] is not None:
        raise RuntimeError(f'{url}: rank 0 could not download the checkpoint: {failure[0]}')
    return path if rank == 0 else download_checkpoint(url, model_dir)


def load_from_http(filename: str, map_location: Any = None, model_dir: Optional[str] = None) -> Any:
    """``http://`` / ``https://``: download (cached), then read weights-only."""
    return safe_torch_load(_download_rank0_first(filename, model_dir), map_location=map_location)


def _zoo_entry(table: dict, name: str, filename: str) -> str:
    if name not in table:
        raise KeyError(
            f"{filename}: no checkpoint named {name!r} in MMEngine's model-zoo table "
            f'({len(table)} names, e.g. {sorted(table)[:3]})'
        )
    return table[name]


def load_from_torchvision(filename: str, map_location: Any = None) -> Any:
    """``torchvision://NAME`` (``modelzoo://NAME``, deprecated): torchvision's weights."""
    scheme, name = filename.split('://', 1)
    if scheme == 'modelzoo':
        print_log(
            'The URL scheme "modelzoo://" is deprecated; use "torchvision://"',
            logger='current',
            level=logging.WARNING,
        )
    url = _zoo_entry(mmengine_checkpoint.get_torchvision_models(), name, filename)
    return load_from_http(url, map_location=map_location)


def _mmengine_home() -> str:
    """MMEngine's cache folder (``$MMENGINE_HOME`` or ``$XDG_CACHE_HOME/mmengine``)."""
    default = osp.join(os.getenv('XDG_CACHE_HOME', '~/.cache'), 'mmengine')
    return osp.expanduser(os.getenv('MMENGINE_HOME', default))


def load_from_openmmlab(filename: str, map_location: Any = None) -> Any:
    """``open-mmlab://NAME`` / ``openmmlab://NAME``: OpenMMLab's model zoo."""
    scheme, name = filename.split('://', 1)
    deprecated = mmengine_checkpoint.get_deprecated_model_names()
    if name in deprecated:
        print_log(
            f'{scheme}://{name} is deprecated in favour of {scheme}://{deprecated[name]}',
            logger='current',
            level=logging.WARNING,
        )
        name = deprecated[name]
    url = _zoo_entry(mmengine_checkpoint.get_external_models(), name, filename)
    if url.startswith(('http://', 'https://')):
        return load_from_http(url, map_location=map_location)
    # A table entry may name a file under MMEngine's home instead of a URL.
    return safe_torch_load(osp.join(_mmengine_home(), url), map_location=map_location)


def load_from_mmcls(filename: str, map_location: Any = None) -> Any:
    """``mmcls://NAME``: an MMClassification checkpoint, reduced to its backbone's weights."""
    url = _zoo_entry(mmengine_checkpoint.get_mmcls_models(), filename.split('://', 1)[1], filename)
    checkpoint = load_from_http(url, map_location=map_location)
    state_dict = checkpoint.get('state_dict', checkpoint)
    prefix = 'backbone.'
    backbone = OrderedDict(
        (k[len(prefix) :], v) for k, v in state_dict.items() if k.startswith(prefix)
    )
    return dict(state_dict=backbone)


def load_from_ceph(filename: str, map_location: Any = None, backend: str = 'petrel') -> Any:
    """``s3://`` / ``petrel://``: the bytes from MMEngine's file backend, read weights-only."""
    from mmengine.fileio import get_file_backend

    data = get_file_backend(filename, backend_args={'backend': backend}).get(filename)
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, osp.basename(filename.rstrip('/')) or 'checkpoint.pth')
        with open(path, 'wb') as f:
            f.write(data)
        return safe_torch_load(path, map_location=map_location)


def load_from_pavi(filename: str, map_location: Any = None) -> Any:
    """``pavi://``: a PAVI model-cloud checkpoint, downloaded to a temporary folder."""
    try:
        from pavi import modelcloud
    except ImportError as err:
        raise ImportError(
            f'{filename}: install pavi to load checkpoints from its model cloud'
        ) from err
    model = modelcloud.get(filename[len('pavi://') :])
    with tempfile.TemporaryDirectory() as tmp:
        path = osp.join(tmp, model.name)
        model.download(path)
        return safe_torch_load(path, map_location=map_location)


# MMEngine 0.10.x's schemes (mmengine/runner/checkpoint.py); requirements pin mmengine < 0.11.
_SCHEMES = (
    (('',), load_from_local_safe),
    (('http://', 'https://'), load_from_http),
    (('pavi://',), load_from_pavi),
    ((r'(\S+\:)?s3://', r'(\S+\:)?petrel://'), load_from_ceph),
    (('modelzoo://', 'torchvision://'), load_from_torchvision),
    (('open-mmlab://', 'openmmlab://'), load_from_openmmlab),
    (('mmcls://',), load_from_mmcls),
)


def register_safe_mmengine_loaders() -> None:
    """Make every scheme of MMEngine's ``CheckpointLoader`` read weights-only."""
    for prefixes, loader in _SCHEMES:
        mmengine_checkpoint.CheckpointLoader.register_scheme(
            prefixes=list(prefixes), loader=loader, force=True
        )
