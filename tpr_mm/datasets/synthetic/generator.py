# Copyright (c) tpr_mm contributors. All rights reserved.
"""Writing a synthetic dataset in the CUHK-PEDES layout.

Layout (what the CUHK-PEDES parser reads)::

    data_root/
        imgs/{train,val,test}/<id>_<k>.png
        reid_raw.json               # list of {split, captions, file_path,
                                    #          processed_tokens, id}
        synthetic_attributes.json   # per-id attributes (for analysis/tests)
        synthetic_meta.json         # params + versions + stats + file list, written last

The dataset is built in a hidden sibling directory and renamed into place, so
an interrupted run never leaves a ``data_root`` that looks complete. An
existing folder is replaced only when it is empty or the meta file proves it is
a set written here and lists everything in it (see :mod:`.ownership`).
"""

import inspect
import json
import shutil
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.logging import print_log
from PIL import Image

from ...version import __version__
from .attributes import PersonAttributes, make_caption, tokenize_caption
from .ownership import (
    ANNO_FILE,
    ATTR_FILE,
    GENERATOR_NAME,
    META_FILE,
    SPLITS,
    check_replaceable,
    swap_into_place,
)
from .render import render_person
from .variants import draw_identities, make_partial_caption

GENERATOR_VERSION = 1  # bump whenever the images or annotations for given params change


def _save_image(img: Image.Image, path: Path) -> None:
    # Fixed PNG settings keep the files byte-stable across runs.
    img.save(path, format='PNG', compress_level=1)


def _unique_captions(
    attrs: PersonAttributes, rng: np.random.Generator, view: str, num: int, partial: bool = False
) -> List[str]:
    captions: List[str] = []
    write = make_partial_caption if partial else make_caption
    for _ in range(20 * num):
        text, _slots = write(attrs, rng, view)
        if text not in captions:
            captions.append(text)
            if len(captions) == num:
                return captions
    raise RuntimeError(f'could not write {num} distinct captions for {attrs}')


def _write_dataset(out: Path, p: dict) -> Dict[str, Dict[str, int]]:
    counts = dict(zip(SPLITS, (p['num_train_ids'], p['num_val_ids'], p['num_test_ids'])))
    seed, n_img, n_cap = p['seed'], p['images_per_id'], p['captions_per_image']
    size: Tuple[int, int] = tuple(p['image_size'])
    identities = draw_identities(p)
    records, attr_rows, stats, written = [], [], {}, []
    pid = 0
    for split in SPLITS:
        (out / 'imgs' / split).mkdir(parents=True)
        for _ in range(counts[split]):
            pid += 1
            attrs = identities[pid - 1]
            attr_rows.append({'id': pid, 'split': split, **attrs.to_dict()})
            for k in range(n_img):
                # Per-image streams: an image depends only on (seed, id, k).
                img, view = render_person(attrs, np.random.default_rng([seed, pid, k, 1]), size)
                rel = f'{split}/{pid}_{k}.png'
                _save_image(img, out / 'imgs' / rel)
                written.append(f'imgs/{rel}')
                caps = _unique_captions(
                    attrs,
                    np.random.default_rng([seed, pid, k, 2]),
                    view,
                    n_cap,
                    p.get('partial_captions', False),
                )
                records.append(
                    {
                        'split': split,
                        'captions': caps,
                        'file_path': rel,
                        'processed_tokens': [tokenize_caption(c) for c in caps],
                        'id': pid,
                    }
                )
        stats[split] = {
            'ids': counts[split],
            'images': counts[split] * n_img,
            'captions': counts[split] * n_img * n_cap,
        }
    (out / ANNO_FILE).write_text(json.dumps(records))
    (out / ATTR_FILE).write_text(json.dumps(attr_rows, indent=1))
    meta = {
        'generator': GENERATOR_NAME,
        'generator_version': GENERATOR_VERSION,
        'tpr_mm_version': __version__,
        'params': p,
        'stats': stats,
        # Every file written: the proof that lets a later run replace this folder.
        'files': written + [ANNO_FILE, ATTR_FILE],
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2))  # last: marks completeness
    return stats


def _normalize_params(**params) -> dict:
    sig = inspect.signature(generate_synthetic_pedes).parameters
    skip = ('data_root', 'overwrite', 'variants')
    defaults = {k: v.default for k, v in sig.items() if k not in skip}
    defaults.update(_VARIANT_DEFAULTS)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise TypeError(f'unknown synthetic dataset parameter(s): {unknown}')
    p = {**defaults, **params}
    size = p['image_size']
    if len(size) != 2 or int(size[0]) < 16 or int(size[1]) < 8:
        raise ValueError(f'image_size must be (H >= 16, W >= 8), got {size!r}')
    p['image_size'] = [int(size[0]), int(size[1])]
    minimum = {
        'num_train_ids': 1,
        'num_val_ids': 0,
        'num_test_ids': 1,
        'images_per_id': 1,
        'captions_per_image': 1,
        'seed': 0,
    }
    for name, low in minimum.items():
        if not isinstance(p[name], (int, np.integer)) or p[name] < low:
            raise ValueError(f'{name} must be an integer >= {low}, got {p[name]!r}')
        p[name] = int(p[name])
    return _normalize_variants(p)


# Variant options (variants.py) enter the meta file only when set, so that datasets generated
# before they existed still match their parameters.
_VARIANT_DEFAULTS = dict(partial_captions=False, sibling_fraction=0.0, exclude_identities_of=None)


def _flatten(dataset: dict) -> dict:
    # A SyntheticPEDES config dict works too: its folder is irrelevant, its options are params.
    d = {k: v for k, v in dict(dataset).items() if k != 'data_root'}
    d.update(d.pop('generator_options', None) or {})
    return d


def _normalize_variants(p: dict) -> dict:
    for name, default in _VARIANT_DEFAULTS.items():
        if p.get(name, default) == default:
            p.pop(name, None)
    if 'partial_captions' in p:
        p['partial_captions'] = bool(p['partial_captions'])
    if 'sibling_fraction' in p:
        frac = float(p['sibling_fraction'])
        if not 0.0 <= frac <= 1.0:
            raise ValueError(f'sibling_fraction must be in [0, 1], got {frac!r}')
        p['sibling_fraction'] = frac
    if 'exclude_identities_of' in p:
        others = p['exclude_identities_of']
        others = [others] if isinstance(others, dict) else list(others)
        p['exclude_identities_of'] = [_normalize_params(**_flatten(o)) for o in others]
    return p


def read_synthetic_meta(data_root: str) -> Optional[dict]:
    """Return the parsed ``synthetic_meta.json`` of a dataset, or ``None``.

    ``None`` also when the file is not a JSON object (not the generator's).
    """
    path = Path(data_root) / META_FILE
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def synthetic_params_match(data_root: str, **params) -> bool:
    """Whether ``data_root`` holds a complete dataset made with ``params``.

    Parameters not given take the defaults of
    :func:`generate_synthetic_pedes`. The generator version must match too;
    the package version is recorded in the meta file for information only.

    Args:
        data_root (str): Dataset directory.
        **params: Parameters of :func:`generate_synthetic_pedes`.

    Returns:
        bool: ``True`` if regenerating would produce the same dataset.
    """
    wanted = _normalize_params(**params)
    meta = read_synthetic_meta(data_root)
    return (
        meta is not None
        and meta.get('generator_version') == GENERATOR_VERSION
        and meta.get('params') == wanted
        and (Path(data_root) / ANNO_FILE).is_file()
    )


def generate_synthetic_pedes(
    data_root: str,
    num_train_ids: int = 120,
    num_val_ids: int = 30,
    num_test_ids: int = 40,
    images_per_id: int = 4,
    captions_per_image: int = 2,
    image_size: Tuple[int, int] = (128, 48),
    seed: int = 0,
    overwrite: bool = False,
    **variants,
) -> Dict[str, Dict[str, int]]:
    """Generate (or reuse) a synthetic text-based person re-id dataset.

    Identity ids are 1-based and contiguous: train ids first, then val, then
    test. Output depends only on the parameters (same seed, same bytes).

    If ``data_root`` already holds a complete dataset with the same parameters
    it is reused unless ``overwrite``. Otherwise the set is written into
    ``data_root`` if it is missing or empty, or if its ``synthetic_meta.json``
    shows that it is a set written by this function and lists every file and
    folder in it. Any other folder -- a real dataset, a user's files, a
    generated set with other files put into it -- is never replaced, also not
    with ``overwrite=True``: a ``FileExistsError`` names the folder and why.

    Args:
        data_root (str): Output directory.
        num_train_ids (int): Identities in the train split.
        num_val_ids (int): Identities in the val split (may be 0).
        num_test_ids (int): Identities in the test split.
        images_per_id (int): Images drawn per identity.
        captions_per_image (int): Distinct captions per image.
        image_size (tuple[int, int]): Image ``(H, W)``.
        seed (int): Random seed (>= 0).
        overwrite (bool): Regenerate even if a matching dataset exists.
        **variants: Optional ``partial_captions`` (bool), ``sibling_fraction``
            (float) and ``exclude_identities_of`` (dict of another dataset's
            parameters); see :mod:`tpr_mm.datasets.synthetic.variants`. Off
            by default (the dataset is then unchanged).

    Returns:
        dict: ``{split: {'ids': int, 'images': int, 'captions': int}}``.

    Raises:
        FileExistsError: ``data_root`` exists and may not be replaced.
    """
    params = _normalize_params(
        num_train_ids=num_train_ids,
        num_val_ids=num_val_ids,
        num_test_ids=num_test_ids,
        images_per_id=images_per_id,
        captions_per_image=captions_per_image,
        image_size=image_size,
        seed=seed,
        **variants,
    )
    root = Path(data_root)
    if not overwrite and synthetic_params_match(root, **params):
        print_log(f'Reusing synthetic dataset at {root}', logger='current')
        return read_synthetic_meta(root)['stats']
    check_replaceable(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f'.{root.name}.tmp-', dir=root.parent))
    try:
        stats = _write_dataset(tmp, params)
        check_replaceable(root)  # again: files may have appeared while rendering
        swap_into_place(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print_log(f'Wrote synthetic dataset to {root}: {stats}', logger='current')
    return stats


def load_synthetic_attributes(data_root: str) -> Dict[int, PersonAttributes]:
    """Read the per-identity attributes written next to the annotations.

    Returns:
        dict[int, PersonAttributes]: Attributes keyed by identity id.
    """
    rows = json.loads((Path(data_root) / ATTR_FILE).read_text())
    out = {}
    for row in rows:
        pid = row.pop('id')
        row.pop('split')
        out[pid] = PersonAttributes(**row)
    return out
