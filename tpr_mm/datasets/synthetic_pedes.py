# Copyright (c) tpr_mm contributors. All rights reserved.
"""The synthetic pedestrian dataset: reads a set written by the generator."""

import os.path as osp
from typing import Optional, Sequence

from tpr_mm.registry import DATASETS

from .cuhk_pedes import CUHKPEDES
from .synthetic import read_synthetic_meta, synthetic_params_match

# Dataset arguments that are generator parameters (the rest go to CUHKPEDES).
GENERATOR_ARGS = (
    'num_train_ids',
    'num_val_ids',
    'num_test_ids',
    'images_per_id',
    'captions_per_image',
    'image_size',
    'seed',
)
MAKE_SYNTHETIC = 'python tools/dataset_converters/make_synthetic.py'


def synthetic_generator_params(dataset_cfg: dict) -> dict:
    """Generator parameters of a ``SyntheticPEDES`` config (or its keyword arguments).

    Args:
        dataset_cfg (dict): ``num_*_ids``, ``images_per_id``, ... and
            ``generator_options``; other keys (``split``, ``pipeline``, ...)
            are ignored. Missing ones take the generator's defaults, which are
            also the dataset's.

    Returns:
        dict: Keyword arguments of
        :func:`~tpr_mm.datasets.synthetic.generate_synthetic_pedes`.
    """
    params = {k: dataset_cfg[k] for k in GENERATOR_ARGS if k in dataset_cfg}
    if 'image_size' in params:
        params['image_size'] = tuple(params['image_size'])
    params.update(dataset_cfg.get('generator_options') or {})
    return params


def make_synthetic_command(data_root: str, params: dict) -> str:
    """The ``tools/dataset_converters/make_synthetic.py`` call that writes this set.

    Sets with generator options (partial captions, siblings, excluded
    identities) cannot be described on the command line; their config can.
    """
    flags = [f'--out {data_root}']
    for key in GENERATOR_ARGS:
        if key == 'image_size' and key in params:
            flags.append('--image-size {} {}'.format(*params[key]))
        elif key in params:
            flags.append(f'--{key.replace("_", "-")} {params[key]}')
    if set(params) - set(GENERATOR_ARGS):
        return f'{MAKE_SYNTHETIC} --config <your config>'
    return ' '.join([MAKE_SYNTHETIC] + flags)


def _why_not_ready(data_root: str) -> str:
    if not osp.exists(data_root):
        return 'the folder does not exist'
    meta = read_synthetic_meta(data_root)
    if meta is None:
        return 'it holds no synthetic_meta.json'
    return 'it was generated with other parameters or by another generator version'


@DATASETS.register_module()
class SyntheticPEDES(CUHKPEDES):
    """CUHK-PEDES-format synthetic dataset.

    Procedurally drawn pedestrians whose identities differ in clothing,
    bag, hat and hair attributes, with paraphrased captions
    (see :func:`tpr_mm.datasets.synthetic.generate_synthetic_pedes`). The
    files are ordinary CUHK-PEDES files (``imgs/`` + ``reid_raw.json``), read
    by the real :class:`CUHKPEDES` parser.

    Building the dataset only reads: the set is written beforehand by
    ``tools/dataset_converters/make_synthetic.py`` or by the prepare step of
    ``tools/train.py`` / ``tools/test.py``
    (:func:`tpr_mm.apis.prepare_data`, rank 0 only). When ``data_root`` does
    not hold a set generated with these parameters, a ``FileNotFoundError``
    names the folder, the reason and the command that writes it.

    Args:
        data_root (str): Dataset folder, e.g. ``'data/synthetic'``.
        num_train_ids / num_val_ids / num_test_ids (int): Identities per split.
        images_per_id (int): Images per identity.
        captions_per_image (int): Captions per image.
        image_size (tuple[int, int]): Rendered (H, W).
        seed (int): Generation seed.
        generator_options (dict, optional): Generator variants
            (``partial_captions``, ``sibling_fraction``,
            ``exclude_identities_of``); off by default.
        **kwargs: Passed to :class:`CUHKPEDES` (``split``, ``modality``,
            ``pipeline``, ...).
    """

    METAINFO = dict(CUHKPEDES.METAINFO, dataset_name='SyntheticPEDES')

    def __init__(
        self,
        data_root: str,
        num_train_ids: int = 120,
        num_val_ids: int = 30,
        num_test_ids: int = 40,
        images_per_id: int = 4,
        captions_per_image: int = 2,
        image_size: Sequence[int] = (128, 48),
        seed: int = 0,
        generator_options: Optional[dict] = None,
        **kwargs,
    ) -> None:
        params = synthetic_generator_params(
            dict(
                num_train_ids=num_train_ids,
                num_val_ids=num_val_ids,
                num_test_ids=num_test_ids,
                images_per_id=images_per_id,
                captions_per_image=captions_per_image,
                image_size=image_size,
                seed=seed,
                generator_options=generator_options,
            )
        )
        if not synthetic_params_match(data_root, **params):
            raise FileNotFoundError(
                f'{type(self).__name__}: {data_root!r} does not hold the synthetic set of these '
                f'parameters ({_why_not_ready(data_root)}). Building a dataset only reads '
                f'files; write the set first with: {make_synthetic_command(data_root, params)} '
                '(tools/train.py and tools/test.py do this for every synthetic set of their '
                'config, through tpr_mm.apis.prepare_data)'
            )
        super().__init__(data_root=data_root, **kwargs)
