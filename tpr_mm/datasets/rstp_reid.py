# Copyright (c) tpr_mm contributors. All rights reserved.
"""RSTPReid (Zhu et al., ACM MM 2021) in the IRRA annotation format.

Source: anosorae/IRRA:datasets/rstpreid.py.
"""

from tpr_mm.registry import DATASETS

from .base_text_reid import BaseTextReIDDataset


@DATASETS.register_module()
class RSTPReid(BaseTextReIDDataset):
    """RSTPReid: 4,101 persons x 5 images x 2 captions, from MSMT17.

    Layout: ``data_root/data_captions.json`` next to ``data_root/imgs/``; the
    image key is ``img_path`` with flat file names such as
    ``0000_c14_0031.jpg``. Ids are 0-based.

    Split sizes (ids / images / captions): train 3,701 / 18,505 / 37,010;
    val 200 / 1,000 / 2,000; test 200 / 1,000 / 2,000.

    See :class:`BaseTextReIDDataset` for the arguments and item keys.
    """

    ANN_FILE = 'data_captions.json'
    PATH_KEY = 'img_path'
    METAINFO = {'dataset_name': 'RSTPReid'}
    MISSING_ANN_HINT = 'RSTPReid ships its annotation as data_captions.json'
