# Copyright (c) tpr_mm contributors. All rights reserved.
"""CUHK-PEDES (Li et al., CVPR 2017) in the IRRA annotation format.

Source: anosorae/IRRA:datasets/cuhkpedes.py.
"""

from tpr_mm.registry import DATASETS

from .base_text_reid import BaseTextReIDDataset


@DATASETS.register_module()
class CUHKPEDES(BaseTextReIDDataset):
    """CUHK-PEDES: 13,003 persons, 40,206 images, 80,440 captions.

    Layout: ``data_root/reid_raw.json`` next to ``data_root/imgs/`` whose
    ``file_path`` values look like ``CUHK01/0363004.png`` or
    ``test_query/p2703_s3526.jpg``. Records carry ``id`` (1-based), ``split``
    (train/val/test), ``captions`` (usually 2; one image has 10, all kept) and
    ``processed_tokens`` (ignored).

    Split sizes as IRRA parses them (ids / images / captions):
    train 11,003 / 34,054 / 68,126; val 1,000 / 3,078 / 6,158;
    test 1,000 / 3,074 / 6,156. Train pids are the ids remapped to
    ``0..11002`` (IRRA's ``id - 1``).

    See :class:`BaseTextReIDDataset` for the arguments and item keys.
    """

    ANN_FILE = 'reid_raw.json'
    PATH_KEY = 'file_path'
    METAINFO = {'dataset_name': 'CUHK-PEDES'}
    MISSING_ANN_HINT = (
        'reid_raw.json is the split-annotated file; caption_all.json has no '
        'split field and cannot be used directly'
    )
    ANN_FILE_ALIASES = ('caption_all.json',)
