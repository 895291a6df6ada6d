# Copyright (c) tpr_mm contributors. All rights reserved.
"""Base dataset of text-based person re-identification benchmarks.

Source: anosorae/IRRA:datasets/bases.py and anosorae/IRRA:datasets/cuhkpedes.py (annotation
format).
"""

import copy
import logging
import os.path as osp
from typing import List, Optional, Sequence, Union

import numpy as np
from mmengine.dataset import BaseDataset, force_full_init
from mmengine.fileio import isdir, isfile, join_path
from mmengine.logging import print_log

from tpr_mm.registry import DATASETS

from .annotation import SPLITS, UNKNOWN_SPLIT_POLICIES, group_by_split, load_annotations
from .duplicates import find_duplicates, warn_duplicates
from .image_files import check_image_files
from .items import IDENTITY_MODES, expand_items, shown_identities
from .noisy_correspondence import apply_caption_permutation, resolve_noisy_permutation

MODALITIES = ('pair', 'image', 'text')


def _check_choice(name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f'{name} must be one of {tuple(choices)}, got {value!r}')


def _index_array(indices: Union[int, Sequence[int]], length: int) -> np.ndarray:
    """Positions selected by mmengine's ``indices`` semantics (int: first/last n)."""
    positions = np.arange(length)
    if isinstance(indices, int):
        return positions[:indices] if indices >= 0 else positions[indices:]
    return positions[np.asarray(list(indices), dtype=np.int64)]


@DATASETS.register_module()
class BaseTextReIDDataset(BaseDataset):
    """A text-based person re-id split in the IRRA annotation format.

    The annotation (``data_root/ann_file``) is a JSON list with one record per
    image: ``id`` (int), ``captions`` (list of str), ``split`` (str) and the
    image path under :attr:`PATH_KEY`, relative to ``data_root/img_dir``.

    **Checks.** Every record is validated (:func:`~.annotation.parse_records`:
    errors name file, record and field; image paths must be relative and
    without ``..``). Records that repeat an earlier record's image path are
    kept but reported in one warning per dataset with counts and examples
    (:mod:`~.duplicates`).

    **Split policy.** ``'train'``, ``'val'`` and ``'test'`` (exact, case
    sensitive) go to their split. Any other value follows ``unknown_split``:
    ``'val'`` puts it in val like IRRA (warning with the count and up to three
    values), ``'error'`` raises naming the record and value, ``'ignore'``
    drops it (count logged). Building a split with no records raises.

    **Views** (``modality``), all in JSON order, every caption kept:

    * ``'pair'``: one item per (image, caption) -- the training view.
    * ``'image'``: one item per image -- the gallery.
    * ``'text'``: one item per caption -- the queries.

    Item keys: ``img_path`` (pair/image), ``caption`` (pair/text), ``pid``,
    ``image_id`` (image index within the split), ``caption_id`` (caption index
    within the split; pair/text), ``raw_id`` and ``modality``;
    ``get_data_info`` adds ``sample_idx``. ``num_ids`` / ``num_images`` /
    ``num_captions`` (also in ``metainfo``) describe the whole split, also
    when ``indices`` or ``get_subset`` select part of it.

    **Identities.** On train, raw ids are remapped to ``0..N-1`` in sorted
    raw-id order. On the real files this equals IRRA (``id - 1`` for CUHK,
    unchanged for ICFG/RSTPReid), and it keeps custom, non-contiguous ids
    usable by an ID classifier. On val/test the raw id is kept (only equality
    matters). ``identity`` then sets what items expose: ``'keep'``; ``'drop'``
    (``pid = raw_id = -1`` everywhere, for weakly supervised training); or
    ``'scramble'`` (the image-level pids of the split are shuffled across
    images with ``identity_seed``, so all captions of an image share one
    shuffled pid; ``raw_id = -1``). The true ids stay reachable only through
    :meth:`true_pids`, for monitoring (``num_ids`` stays the true count, a
    split statistic). Note that some image file names encode the person
    (e.g. ICFG/RSTPReid), which ``'drop'`` cannot hide.

    **Noisy correspondence** (``noisy_rate``, train split, pair view; RDE's
    protocol, see :mod:`tpr_mm.datasets.noisy_correspondence`): a permutation
    of the split's pairs gives each pair the caption of another; it is read
    from ``noisy_file`` (RDE's ``noiseindex/<DATASET>_<rate>.npy``) when that
    file exists, else generated with ``noisy_seed`` (1 reproduces RDE's
    files). Every item then carries ``is_clean``, for measuring a clean/noisy
    division only. The corruption applies to the whole split before
    ``indices`` selects items.

    Args:
        data_root (str): Dataset folder holding the annotation and images.
        ann_file (str): Annotation file relative to ``data_root``.
            Defaults to :attr:`ANN_FILE`.
        split (str): ``'train'``, ``'val'`` or ``'test'``.
        modality (str): ``'pair'``, ``'image'`` or ``'text'``.
        img_dir (str): Image folder relative to ``data_root``.
        unknown_split (str): ``'val'``, ``'error'`` or ``'ignore'``.
        identity (str): ``'keep'``, ``'drop'`` or ``'scramble'``.
        pipeline (Sequence): Transforms applied to each item.
        test_mode (bool): See :class:`mmengine.dataset.BaseDataset`.
        lazy_init (bool): Defer parsing the annotation to ``full_init``.
        serialize_data (bool): Store items as one byte buffer.
        max_refetch (int): Retries on a ``None`` pipeline result; 0 so that a
            broken image fails loudly instead of being replaced.
        identity_seed (int): Seed of ``identity='scramble'``.
        noisy_rate (float, optional): Fraction of training pairs given a
            shuffled caption. None (default): no corruption and no
            ``is_clean`` field; 0.0: none corrupted, ``is_clean`` all True.
        noisy_file (str, optional): Permutation file in RDE's format, used
            when it exists (relative paths are taken as given, not under
            ``data_root``).
        noisy_seed (int): Seed of the generated permutation. Defaults to 1.
        **kwargs: Other :class:`~mmengine.dataset.BaseDataset` arguments
            (``metainfo``, ``indices``).
    """

    ANN_FILE: str = ''
    PATH_KEY: str = 'file_path'
    MISSING_ANN_HINT: str = ''
    ANN_FILE_ALIASES: tuple = ()
    METAINFO: dict = {'dataset_name': 'text-reid'}

    def __init__(
        self,
        data_root: str,
        ann_file: str = '',
        split: str = 'train',
        modality: str = 'pair',
        img_dir: str = 'imgs',
        unknown_split: str = 'val',
        identity: str = 'keep',
        pipeline: Sequence = (),
        test_mode: bool = False,
        lazy_init: bool = False,
        serialize_data: bool = True,
        max_refetch: int = 0,
        identity_seed: int = 0,
        noisy_rate: Optional[float] = None,
        noisy_file: Optional[str] = None,
        noisy_seed: int = 1,
        **kwargs,
    ) -> None:
        _check_choice('split', split, SPLITS)
        _check_choice('modality', modality, MODALITIES)
        _check_choice('unknown_split', unknown_split, UNKNOWN_SPLIT_POLICIES)
        _check_choice('identity', identity, IDENTITY_MODES)
        for key in ('data_prefix', 'filter_cfg'):
            if key in kwargs:
                raise TypeError(
                    f'{type(self).__name__} does not accept {key!r}; use img_dir '
                    'for the image folder and split/unknown_split/indices to select'
                )
        ann_file = ann_file or self.ANN_FILE
        if not ann_file:
            raise ValueError(f'{type(self).__name__} has no default ANN_FILE; pass ann_file')
        self.split = split
        self.modality = modality
        self.unknown_split = unknown_split
        self.identity = identity
        self.identity_seed = identity_seed
        if noisy_rate is not None:
            if not 0.0 <= float(noisy_rate) <= 1.0:
                raise ValueError(f'noisy_rate must be in [0, 1], got {noisy_rate}')
            if split != 'train' or modality != 'pair':
                raise ValueError(
                    f'noisy_rate corrupts training pairs; it needs split="train" and '
                    f'modality="pair", got split={split!r}, modality={modality!r}'
                )
        self.noisy_rate = None if noisy_rate is None else float(noisy_rate)
        self.noisy_file = noisy_file
        self.noisy_seed = noisy_seed
        self._pids = np.zeros(0, dtype=np.int64)
        self._true_pids = np.zeros(0, dtype=np.int64)
        self._split_info: dict = {}
        # BaseDataset's ``indices``, applied by load_data_list so the pid arrays follow it.
        self.subset_indices = kwargs.pop('indices', None)
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix={'img_path': img_dir},
            pipeline=list(pipeline),
            test_mode=test_mode,
            lazy_init=lazy_init,
            serialize_data=serialize_data,
            max_refetch=max_refetch,
            **kwargs,
        )
        if lazy_init:  # path errors surface at construction also without parsing
            self._check_paths()

    @property
    def metainfo(self) -> dict:
        """dict: BaseDataset's meta information plus the split statistics."""
        return dict(super().metainfo, **copy.deepcopy(self._split_info))

    def _check_paths(self) -> None:
        if not isfile(self.ann_file):
            raise FileNotFoundError(self._missing_ann_message())
        img_root = self.data_prefix['img_path']
        if not isdir(img_root):
            raise FileNotFoundError(
                f"{type(self).__name__}: image folder '{img_root}' not found; images are read "
                f'from <data_root>/<img_dir>/<{self.PATH_KEY}> (set img_dir if it differs)'
            )

    def _missing_ann_message(self) -> str:
        msg = f"{type(self).__name__}: annotation file '{self.ann_file}' not found"
        if self.MISSING_ANN_HINT:
            msg += f'. {self.MISSING_ANN_HINT}'
        folder = osp.dirname(self.ann_file)
        found = [a for a in self.ANN_FILE_ALIASES if isfile(join_path(folder, a))]
        if found:
            msg += f' (found {found} in {folder!r})'
        return msg

    def load_data_list(self) -> List[dict]:
        """Parse the annotation and build the items of the chosen split and view.

        ``indices`` (if given) selects among them here, keeping the per-item pid
        arrays aligned; BaseDataset's ``filter_data`` keeps every item.
        """
        self._check_paths()
        records = load_annotations(self.ann_file, self.PATH_KEY)
        groups = group_by_split(records, self.ann_file, self.unknown_split)
        chosen = groups[self.split]
        owner = f'{type(self).__name__} {self.split}/{self.modality}'
        warn_duplicates(find_duplicates(records), self.ann_file, self.PATH_KEY, chosen, owner)
        if self.modality != 'text':  # the query view reads no image
            img_root = self.data_prefix['img_path']
            check_image_files(
                chosen, img_root, self.ann_file, self.PATH_KEY, self.split, self.pipeline
            )
        if not chosen:
            counts = ', '.join(f'{s}={len(groups[s])}' for s in SPLITS)
            raise ValueError(
                f"{type(self).__name__}: split '{self.split}' has no records in "
                f"'{self.ann_file}' (records per split: {counts}); use a split that exists"
            )

        raw_ids = np.fromiter((r.raw_id for r in chosen), dtype=np.int64, count=len(chosen))
        unique_ids, inverse = np.unique(raw_ids, return_inverse=True)
        true_img_pids = inverse.astype(np.int64) if self.split == 'train' else raw_ids
        shown_img_pids = shown_identities(true_img_pids, self.identity, self.identity_seed)
        data_list, item_image = expand_items(
            chosen,
            shown_img_pids,
            self.modality,
            self.data_prefix['img_path'],
            keep_raw_ids=self.identity == 'keep',
        )

        if self.noisy_rate is not None:
            perm = resolve_noisy_permutation(
                len(data_list),
                self.noisy_rate,
                self.noisy_file,
                self.noisy_seed,
                type(self).__name__,
            )
            data_list = apply_caption_permutation(data_list, perm)
        num_captions = sum(len(r.captions) for r in chosen)
        self._pids = shown_img_pids[item_image]
        self._true_pids = true_img_pids[item_image]
        self._split_info = dict(
            split=self.split,
            modality=self.modality,
            identity=self.identity,
            num_ids=len(unique_ids),
            num_images=len(chosen),
            num_captions=num_captions,
            has_identity_labels=self.has_identity_labels,
        )
        print_log(
            f'{type(self).__name__} {self.split}/{self.modality}: {len(unique_ids)} ids, '
            f'{len(chosen)} images, {num_captions} captions -> {len(data_list)} items '
            f'(identity={self.identity!r})',
            logger='current',
            level=logging.INFO,
        )
        if self.subset_indices is not None:
            keep = _index_array(self.subset_indices, len(data_list))
            data_list = [data_list[i] for i in keep]
            self._pids, self._true_pids = self._pids[keep], self._true_pids[keep]
        return data_list

    @force_full_init
    def get_subset_(self, indices: Union[Sequence[int], int]) -> None:
        keep = _index_array(indices, len(self))
        super().get_subset_(indices)
        self._pids, self._true_pids = self._pids[keep], self._true_pids[keep]

    @force_full_init
    def get_subset(self, indices: Union[Sequence[int], int]) -> 'BaseTextReIDDataset':
        keep = _index_array(indices, len(self))
        sub = super().get_subset(indices)
        sub._pids, sub._true_pids = self._pids[keep], self._true_pids[keep]
        return sub

    @property
    def has_identity_labels(self) -> bool:
        """False when ``identity='drop'`` (items carry ``pid == -1``)."""
        return self.identity != 'drop'

    @property
    @force_full_init
    def pids(self) -> np.ndarray:
        """np.ndarray: Shape (len(self),), the ``pid`` of every item."""
        return self._pids.copy()

    @force_full_init
    def true_pids(self) -> np.ndarray:
        """Real (remapped on train) ids of every item, shape (len(self),).

        For monitoring only: this ignores ``identity`` by design.
        """
        return self._true_pids.copy()

    @property
    @force_full_init
    def num_ids(self) -> int:
        """int: Number of distinct identities in the split."""
        return self._split_info['num_ids']

    @property
    @force_full_init
    def num_images(self) -> int:
        """int: Number of images in the split."""
        return self._split_info['num_images']

    @property
    @force_full_init
    def num_captions(self) -> int:
        """int: Number of captions in the split."""
        return self._split_info['num_captions']
