# Copyright (c) tpr_mm contributors. All rights reserved.
"""Read and write a gallery-index folder as a whole: locked, checked, crash-safe.

:class:`~tpr_mm.apis.GalleryIndex` hands over its faiss index and settings;
this module owns the files: the layout and commit rule of
:mod:`tpr_mm.apis.index_files`, the lock of :mod:`tpr_mm.apis.index_lock`,
and the checks that the metadata and the faiss file belong together.
"""

import os
import os.path as osp
from typing import Optional, Tuple

import faiss

from .index_files import (
    META_FILE,
    META_VERSION,
    CorruptIndexError,
    begin_save,
    check_fingerprint,
    commit_meta,
    current_index_file,
    finish_save,
    read_meta,
)
from .index_lock import index_lock


def write_index_folder(
    index_dir: str, index: faiss.Index, settings: dict, expected: Optional[str] = None
) -> str:
    """Write ``index`` to a new faiss file and commit it with ``index_meta.json``.

    Args:
        index_dir (str): The folder (created if missing).
        index (faiss.Index): The CPU index to write.
        settings (dict): Metadata fields other than ``version``,
            ``index_file`` and ``index_bytes`` (``paths``, ``dim``...).
        expected (str, optional): The faiss file the index was loaded with
            from this folder; the save is refused
            (:class:`~tpr_mm.apis.index_files.IndexChangedError`) if another
            process has saved the folder since.

    Returns:
        str: The name of the committed faiss file.
    """
    os.makedirs(index_dir, exist_ok=True)
    current_index_file(index_dir)  # refuse a foreign folder before creating the lock file
    with index_lock(index_dir, exclusive=True):
        previous, index_file = begin_save(index_dir, expected)
        path = osp.join(index_dir, index_file)
        faiss.write_index(index, path)
        meta = dict(version=META_VERSION, **settings)
        meta.update(index_file=index_file, index_bytes=osp.getsize(path))
        meta['paths'] = meta.pop('paths')  # the long list last: the file stays readable
        commit_meta(index_dir, meta)
        finish_save(index_dir, previous, keep=index_file)
    return index_file


def read_index_folder(
    index_dir: str, fingerprint: Optional[dict] = None
) -> Tuple[dict, faiss.Index]:
    """The checked metadata and the faiss index of a folder.

    Args:
        index_dir (str): Folder with ``index_meta.json`` and the faiss file it
            names.
        fingerprint (dict, optional): Identity of the model about to query
            the index; a different one raises ``FingerprintMismatchError``.

    Raises:
        FileNotFoundError: No index in ``index_dir``.
        CorruptIndexError: A damaged or hand-edited ``index_meta.json``
            (naming the field), an unreadable faiss file, or files that do
            not belong together.
    """
    meta_path = osp.join(index_dir, META_FILE)
    if not osp.isfile(meta_path):
        raise FileNotFoundError(f'no gallery index in {index_dir}: {meta_path} is missing')
    with index_lock(index_dir, exclusive=False):  # no save deletes the file mid-read
        meta = read_meta(meta_path)
        index_path = osp.join(index_dir, meta['index_file'])
        if not osp.isfile(index_path):
            raise FileNotFoundError(
                f'no gallery index in {index_dir}: {index_path} (named by {META_FILE}) is missing'
            )
        size = osp.getsize(index_path)
        if meta.get('index_bytes', size) != size:
            raise CorruptIndexError(
                f'{index_path} has {size} bytes but {meta_path} records '
                f'{meta["index_bytes"]}; the files do not belong together — rebuild the index'
            )
        if fingerprint is not None:
            check_fingerprint(meta.get('fingerprint'), fingerprint, index_dir)
        try:
            index = faiss.read_index(index_path)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CorruptIndexError(
                f'{index_path}: faiss cannot read it ({first}); rebuild the index'
            ) from None
    if index.ntotal != len(meta['paths']) or index.d != meta['dim']:
        raise CorruptIndexError(
            f'{index_dir}: {meta["index_file"]} holds {index.ntotal} vectors of '
            f'dim {index.d} but {META_FILE} lists {len(meta["paths"])} '
            f'paths of dim {meta["dim"]}; rebuild the index'
        )
    return meta, index
