# Copyright (c) tpr_mm contributors. All rights reserved.
"""The synthetic pedestrian dataset, generated on first use."""

from typing import Optional, Sequence

from mmengine.dist import broadcast_object_list, get_dist_info
from mmengine.logging import print_log

from tpr_mm.registry import DATASETS

from .cuhk_pedes import CUHKPEDES
from .synthetic import generate_synthetic_pedes, synthetic_params_match


@DATASETS.register_module()
class SyntheticPEDES(CUHKPEDES):
    """CUHK-PEDES-format synthetic dataset that writes itself if missing.

    Procedurally drawn pedestrians whose identities differ in clothing,
    bag, hat and hair attributes, with paraphrased captions
    (see :func:`tpr_mm.datasets.synthetic.generate_synthetic_pedes`). The
    files are ordinary CUHK-PEDES files (``imgs/`` + ``reid_raw.json``), read
    by the real :class:`CUHKPEDES` parser. When ``data_root`` is missing or
    was generated with other parameters, rank 0 generates it (atomically)
    and the other ranks wait.

    **Never deletes your data.** An existing ``data_root`` is replaced only
    when it is empty or its ``synthetic_meta.json`` proves it is a set written
    by the generator and lists every file in it; any other folder (a real
    dataset, ``~/thesis``, a generated set with your files put into it) raises
    ``FileExistsError`` naming the folder and the reason, on every rank.

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
        params = dict(
            num_train_ids=num_train_ids,
            num_val_ids=num_val_ids,
            num_test_ids=num_test_ids,
            images_per_id=images_per_id,
            captions_per_image=captions_per_image,
            image_size=tuple(image_size),
            seed=seed,
            **(generator_options or {}),
        )
        rank, _ = get_dist_info()
        failure = [None]
        if rank == 0:
            try:
                self._prepare(data_root, params)
            except Exception as err:
                # Tell the other ranks before raising, so that none waits for ever.
                broadcast_object_list([f'{type(err).__name__}: {err}'], src=0)
                raise
        broadcast_object_list(failure, src=0)  # also the barrier after generation
        if failure[0] is not None:
            raise RuntimeError(
                f'{type(self).__name__}: rank 0 could not prepare {data_root!r}: {failure[0]}'
            )
        super().__init__(data_root=data_root, **kwargs)

    @staticmethod
    def _prepare(data_root: str, params: dict) -> None:
        if synthetic_params_match(data_root, **params):
            return
        print_log(f'generating the synthetic dataset in {data_root} ...', logger='current')
        stats = generate_synthetic_pedes(data_root, **params)
        print_log(f'synthetic dataset ready: {stats}', logger='current')
