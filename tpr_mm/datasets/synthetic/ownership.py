# Copyright (c) tpr_mm contributors. All rights reserved.
"""Deciding whether a folder may be replaced by a freshly generated synthetic set.

Regenerating deletes the old folder, so the generator asks :func:`replace_refusal`
first. A folder may be replaced only when it is missing or empty, or when its
``synthetic_meta.json`` was written by the generator *and* lists every file
and folder in it. A real dataset, a user's folder (also one into which a meta
file was copied) or a generated set into which the user put other files is
refused: the generator never deletes what it did not write.
"""

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterable, List, Optional, Set

GENERATOR_NAME = 'tpr_mm.datasets.synthetic'
SPLITS = ('train', 'val', 'test')
ANNO_FILE = 'reid_raw.json'
ATTR_FILE = 'synthetic_attributes.json'
META_FILE = 'synthetic_meta.json'
LAYOUT_DIRS = ('imgs',) + tuple(f'imgs/{s}' for s in SPLITS)  # made even for 0-id splits
_SHOWN = 3  # foreign entries named in a refusal (the walk stops there)


def layout_files(params: dict) -> List[str]:
    """Relative paths (POSIX) of every file a set with ``params`` holds, but the meta file.

    Args:
        params (dict): Normalised generator parameters (``num_*_ids``,
            ``images_per_id``).

    Returns:
        list[str]: Image paths under ``imgs/`` in generation order, then the
        annotation and attribute files.
    """
    counts = (params['num_train_ids'], params['num_val_ids'], params['num_test_ids'])
    files, pid = [], 0
    for split, count in zip(SPLITS, counts):
        for _ in range(int(count)):
            pid += 1
            files += [f'imgs/{split}/{pid}_{k}.png' for k in range(int(params['images_per_id']))]
    return files + [ANNO_FILE, ATTR_FILE]


def _parents(files: Iterable[str]) -> Set[str]:
    dirs = set()
    for rel in files:
        parts = rel.split('/')[:-1]
        dirs.update('/'.join(parts[: i + 1]) for i in range(len(parts)))
    return dirs


def _listed_files(root: Path) -> tuple:
    """``(files listed by the meta file, None)`` or ``(None, why it proves nothing)``."""
    meta_path = root / META_FILE
    if meta_path.is_symlink() or not meta_path.is_file():
        return None, f'it has no {META_FILE} (it is not a synthetic set written by tpr_mm)'
    try:
        meta = json.loads(meta_path.read_text(encoding='utf-8'))
    except (OSError, ValueError) as err:
        return None, f'its {META_FILE} cannot be read ({type(err).__name__}: {err})'
    if not isinstance(meta, dict) or meta.get('generator') != GENERATOR_NAME:
        return None, f'its {META_FILE} was not written by {GENERATOR_NAME}'
    files = meta.get('files')
    if files is None:  # sets written before the meta listed its files: same layout
        try:
            files = layout_files(meta['params'])
        except (KeyError, TypeError, ValueError):
            return None, f'its {META_FILE} lists no files and has no usable params'
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None, f"the 'files' list of its {META_FILE} is malformed"
    return files, None


def _foreign_entries(root: Path, files: List[str]) -> List[str]:
    """Up to ``_SHOWN`` entries under ``root`` that ``files`` does not account for."""
    allowed_files = set(files) | {META_FILE}
    allowed_dirs = _parents(files) | set(LAYOUT_DIRS)
    foreign: List[str] = []

    def unreadable(err: OSError) -> None:
        foreign.append(f'{err.filename} (unreadable: {err.strerror})')

    for cur, dirnames, filenames in os.walk(root, onerror=unreadable):
        base = Path(cur).relative_to(root).as_posix()
        prefix = '' if base == '.' else base + '/'
        kept = []
        for name in dirnames:
            rel = prefix + name
            if os.path.islink(os.path.join(cur, name)) or rel not in allowed_dirs:
                foreign.append(rel + '/')
            else:
                kept.append(name)
        dirnames[:] = kept  # never descend into a folder that is not ours
        for name in filenames:
            rel = prefix + name
            if os.path.islink(os.path.join(cur, name)) or rel not in allowed_files:
                foreign.append(rel)
        if len(foreign) >= _SHOWN:
            break
    return foreign[:_SHOWN]


def replace_refusal(root: Path) -> Optional[str]:
    """Why ``root`` must not be deleted and regenerated, or ``None`` when it may be.

    Args:
        root (Path): The dataset folder the generator would write.

    Returns:
        str | None: A reason for the error message, or ``None`` if ``root`` is
        missing, an empty folder, or a synthetic set whose meta file lists
        every file and folder in it (symbolic links inside are never ours).
    """
    if root.is_symlink() and not root.exists():
        return 'it is a symbolic link whose target is missing'
    if not root.exists():
        return None
    if not root.is_dir():
        return 'it is a file, not a folder'
    try:
        if not any(root.iterdir()):
            return None
    except OSError as err:
        return f'it cannot be listed ({err.strerror})'
    files, why = _listed_files(root)
    if files is None:
        return why
    foreign = _foreign_entries(root, files)
    if foreign:
        shown = ', '.join(repr(f) for f in foreign)
        return f'it holds files or folders that its {META_FILE} does not list: {shown}'
    return None


def swap_into_place(tmp: Path, root: Path) -> None:
    """Rename the finished set ``tmp`` to ``root``, deleting what ``root`` held (checked first)."""
    old = None
    if root.is_symlink() or root.exists():
        old = root.with_name(f'.{root.name}.old-{uuid.uuid4().hex[:8]}')
        os.replace(root, old)
    os.replace(tmp, root)
    if old is not None:
        old.unlink() if old.is_symlink() else shutil.rmtree(old, ignore_errors=True)


def check_replaceable(root: Path) -> None:
    """Raise ``FileExistsError`` naming ``root`` and the reason unless it may be replaced."""
    refusal = replace_refusal(root)
    if refusal is not None:
        raise FileExistsError(
            f"refusing to write the synthetic dataset into '{root}': {refusal}. Only a missing "
            f'or empty folder, or a synthetic set written by tpr_mm whose {META_FILE} lists '
            'everything in it, is replaced; choose another folder or move those files away'
        )
