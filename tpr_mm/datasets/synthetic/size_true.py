# Copyright (c) tpr_mm contributors. All rights reserved.
"""Size-true synthetic sets: the exact split counts of CUHK-PEDES / ICFG-PEDES.

The identities, images and captions come from the same renderer and caption
grammar as :func:`generate_synthetic_pedes`, but the split sizes, the number
of images per identity and of captions per image follow the real benchmark:

* ``cuhk-size`` (``reid_raw.json``): train / val / test 11,003 / 1,000 / 1,000
  identities, 34,054 / 3,078 / 3,074 images, 68,126 / 6,158 / 6,156 captions;
* ``icfg-size`` (``ICFG-PEDES.json``): train 3,102 identities, 34,674 images;
  test 1,000 identities, 19,848 images; one caption per image.

Images are JPEG files at crop sizes typical of the field (height 160-400
pixels, height / width 2.0-3.2), which the pipelines resize to 384 x 128.
Writing is parallel (a process pool) and resumable: every image is
written to a temporary name and renamed, so an existing file is complete and
is skipped on a rerun; the annotation file and ``size_true_meta.json`` are
written last.
"""

import json
import multiprocessing as mp
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.logging import print_log
from tqdm import tqdm

from .attributes import make_caption, sample_identities, tokenize_caption
from .render import _VIEW_P, VIEWS, render_person

# split -> (identities, images, captions)
PRESETS: Dict[str, Dict[str, Tuple[int, int, int]]] = {
    'cuhk-size': {
        'train': (11003, 34054, 68126),
        'val': (1000, 3078, 6158),
        'test': (1000, 3074, 6156),
    },
    'icfg-size': {'train': (3102, 34674, 34674), 'test': (1000, 19848, 19848)},
}
ANN_FILES = {'cuhk-size': 'reid_raw.json', 'icfg-size': 'ICFG-PEDES.json'}
META_FILE = 'size_true_meta.json'
# Written first into a new folder: proves the folder is ours, so a rerun may complete it.
OWNER_FILE = 'size_true_owner.json'
_GENERATOR = 'tpr_mm.datasets.synthetic.size_true'


def claim_folder(root: Path, preset: str, seed: int) -> None:
    """Make ``root`` ours, or check that it already is; never write into a user's folder.

    A missing or empty folder is claimed (``size_true_owner.json`` written);
    a folder holding that file for the same preset and seed is resumed; any
    other folder is refused.

    Raises:
        FileExistsError: ``root`` is a file, or a non-empty folder this
            generator did not start (or started with another preset/seed).
    """
    where = f"refusing to write the size-true synthetic set into '{root}'"
    if root.exists() and not root.is_dir():
        raise FileExistsError(f'{where}: it is a file, not a folder')
    owner = root / OWNER_FILE
    if root.is_dir() and any(root.iterdir()):
        try:
            data = json.loads(owner.read_text(encoding='utf-8'))
        except (OSError, ValueError):
            data = None
        if not isinstance(data, dict) or data.get('generator') != _GENERATOR:
            raise FileExistsError(
                f'{where}: it is not empty and has no {OWNER_FILE} (it is not a size-true set '
                'started by tpr_mm); choose an empty or new folder'
            )
        if data.get('preset') != preset or data.get('seed') != seed:
            raise FileExistsError(
                f'{where}: it holds a size-true set with preset {data.get("preset")!r}, seed '
                f'{data.get("seed")!r} (asked: {preset!r}, seed {seed}); choose another folder'
            )
        return
    root.mkdir(parents=True, exist_ok=True)
    owner.write_text(json.dumps({'generator': _GENERATOR, 'preset': preset, 'seed': seed}))


def split_layout(
    ids: int, images: int, captions: int, rng: np.random.Generator
) -> Tuple[np.ndarray, np.ndarray]:
    """Images per identity (>= 1 each) and captions per image (>= 1 each)
    with the exact totals, the surplus spread at random."""
    if not ids <= images <= captions:
        raise ValueError(f'need ids <= images <= captions, got {ids}, {images}, {captions}')
    per_id = 1 + np.bincount(rng.integers(0, ids, images - ids), minlength=ids)
    per_img = np.full(images, captions // images)
    per_img[rng.choice(images, captions - per_img.sum(), replace=False)] += 1
    return per_id, per_img


def image_view(seed: int, pid: int, k: int) -> str:
    """The view :func:`render_person` draws first for image ``k`` of ``pid``:
    known without rendering, so a resumed run writes the same captions."""
    return VIEWS[int(np.random.default_rng([seed, pid, k, 1]).choice(3, p=_VIEW_P))]


def _task(args) -> dict:
    """Render, save (atomically, unless present) and caption one image."""
    root, split, pid, k, n_cap, seed, attrs = args
    rng = np.random.default_rng([seed, pid, k, 3])
    h = int(rng.integers(160, 401))
    w = max(32, int(round(h / rng.uniform(2.0, 3.2))))
    rel = f'{split}/{pid}_{k}.jpg'
    path = os.path.join(root, 'imgs', rel)
    if not os.path.exists(path):
        img, view = render_person(attrs, np.random.default_rng([seed, pid, k, 1]), (h, w))
        tmp = f'{path}.{os.getpid()}.tmp'
        img.save(tmp, format='JPEG', quality=90)
        os.replace(tmp, path)  # a file under its final name is complete
    view = image_view(seed, pid, k)
    crng = np.random.default_rng([seed, pid, k, 2])
    caps: List[str] = []
    for _ in range(20 * n_cap):
        text, _ = make_caption(attrs, crng, view)
        if text not in caps:
            caps.append(text)
        if len(caps) == n_cap:
            break
    caps += [caps[-1]] * (n_cap - len(caps))  # a grammar this rich never needs it
    return {
        'split': split,
        'captions': caps,
        'file_path': rel,
        'processed_tokens': [tokenize_caption(c) for c in caps],
        'id': pid,
    }


def generate_size_true(
    data_root: str,
    preset: str = 'cuhk-size',
    seed: int = 0,
    workers: Optional[int] = None,
    progress: bool = True,
) -> Dict[str, Dict[str, int]]:
    """Write (or complete) a size-true synthetic set under ``data_root``.

    Args:
        data_root (str): Output folder: missing, empty, or a size-true set this
            function started with the same preset and seed (completed, existing
            complete images kept); any other folder is refused.
        preset (str): ``'cuhk-size'`` or ``'icfg-size'`` (see module doc).
        seed (int): Seed; the same seed gives the same set.
        workers (int, optional): Processes; default ``os.cpu_count()``.
        progress (bool): tqdm progress bar.

    Returns:
        dict: ``split -> {'ids', 'images', 'captions'}`` written.
    """
    if preset not in PRESETS:
        raise ValueError(f'unknown preset {preset!r}; choose from {sorted(PRESETS)}')
    root = Path(data_root)
    claim_folder(root, preset, seed)
    splits = PRESETS[preset]
    total_ids = sum(v[0] for v in splits.values())
    identities = sample_identities(total_ids, np.random.default_rng([seed, 0, 0, 0]))
    tasks, stats, pid = [], {}, 0
    for s_idx, (split, (ids, images, captions)) in enumerate(splits.items()):
        (root / 'imgs' / split).mkdir(parents=True, exist_ok=True)
        per_id, per_img = split_layout(ids, images, captions, np.random.default_rng([seed, s_idx]))
        img = 0
        for i in range(ids):
            pid += 1
            for k in range(per_id[i]):
                tasks.append(
                    (str(root), split, pid, k, int(per_img[img]), seed, identities[pid - 1])
                )
                img += 1
        stats[split] = {'ids': ids, 'images': images, 'captions': captions}
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(tasks), desc=f'{preset} images', disable=not progress, dynamic_ncols=True)
    records = []
    # Not multiprocessing.Pool: when a worker dies (OOM killer, a signal) its
    # imap waits for the lost chunk forever; the executor raises instead.
    with ProcessPoolExecutor(workers, mp_context=mp.get_context('fork')) as pool:
        try:
            for rec in pool.map(_task, tasks, chunksize=64):
                records.append(rec)
                bar.update(1)
        except BrokenProcessPool as err:
            raise RuntimeError(
                f'{root}: a worker process writing the {preset} images (seed {seed}) died '
                f'abruptly (out of memory, or killed by a signal) after {bar.n} of '
                f'{len(tasks)} images; the images written are complete and kept: rerun the '
                'same command to finish, with fewer --workers if memory is short'
            ) from err
        finally:
            bar.close()
    for split, want in stats.items():
        got = [r for r in records if r['split'] == split]
        assert (
            len(got) == want['images'] and sum(len(r['captions']) for r in got) == want['captions']
        )
    ann = root / ANN_FILES[preset]
    ann.write_text(json.dumps(records))
    meta = {'preset': preset, 'seed': seed, 'stats': stats, 'ann_file': ann.name}
    (root / META_FILE).write_text(json.dumps(meta, indent=2))  # last: marks completeness
    print_log(f'size-true synthetic set {preset} ready in {root}: {stats}', logger='current')
    return stats
