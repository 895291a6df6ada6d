# Copyright (c) tpr_mm contributors. All rights reserved.
"""ICFG-PEDES (Ding et al., 2021) in the IRRA annotation format.

Source: anosorae/IRRA:datasets/icfgpedes.py.
"""

from tpr_mm.registry import DATASETS

from .base_text_reid import BaseTextReIDDataset


@DATASETS.register_module()
class ICFGPEDES(BaseTextReIDDataset):
    """ICFG-PEDES: 4,102 persons, 54,522 MSMT17 images, one caption each.

    Layout: ``data_root/ICFG-PEDES.json`` (hyphen, the name IRRA's code opens)
    next to ``data_root/imgs/``; ``file_path`` values point under
    ``train/...`` or ``test/...``. Only the ``train`` and ``test`` splits
    exist, so building ``split='val'`` raises; validate on test as IRRA does.

    Split sizes (ids / images / captions): train 3,102 / 34,674 / 34,674;
    test 1,000 / 19,848 / 19,848. Train ids are already ``0..3101``.

    See :class:`BaseTextReIDDataset` for the arguments and item keys.
    """

    ANN_FILE = 'ICFG-PEDES.json'
    PATH_KEY = 'file_path'
    METAINFO = {'dataset_name': 'ICFG-PEDES'}
    MISSING_ANN_HINT = (
        "the code opens 'ICFG-PEDES.json' (hyphen) while some READMEs say "
        'ICFG_PEDES.json (underscore); rename the file or pass ann_file'
    )
    ANN_FILE_ALIASES = ('ICFG_PEDES.json',)
