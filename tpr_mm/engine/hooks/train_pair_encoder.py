# Copyright (c) tpr_mm contributors. All rights reserved.
"""Encode every training pair in dataset order, for a per-epoch clustering pass.

The loaders and encoding of :class:`~tpr_mm.engine.hooks.PseudoLabelHook`,
kept apart from its clustering and labelling.
"""

import copy
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from tpr_mm.registry import DATASETS

from .view_encoding import encode_view, gather_by_id, view_ids


class TrainPairEncoder:
    """Unit image and text features of every training pair, from the runner's configs.

    Args:
        dataloader (dict): Dataloader settings of the pass. Without a
            ``dataset``, the training dataset config is used with
            ``eval_pipeline``. The sampler defaults to an unshuffled
            ``DefaultSampler``; worker settings (``num_workers``,
            ``persistent_workers``, ``pin_memory``) not given follow
            ``train_dataloader``.
        eval_pipeline (list[dict], optional): Augmentation-free pipeline.
            None takes the pipeline of ``test_dataloader`` (else
            ``val_dataloader``).
        unique_images (bool): Encode every image once and every caption once
            (the dataset's ``'image'`` and ``'text'`` views, gathered per pair
            by ``image_id`` / ``caption_id``) instead of one image forward per
            pair. Ignored when ``dataloader`` names its own dataset.
        fp16 (bool): Autocast while encoding.
        progress (bool): tqdm progress bars on the main process.
        owner (str): Name used in error messages.
    """

    def __init__(
        self,
        dataloader: dict,
        eval_pipeline: Optional[Sequence[dict]] = None,
        unique_images: bool = True,
        fp16: bool = False,
        progress: bool = True,
        owner: str = 'PseudoLabelHook',
    ) -> None:
        self.dataloader_cfg = copy.deepcopy(dataloader)
        self.eval_pipeline = copy.deepcopy(eval_pipeline) if eval_pipeline is not None else None
        self.unique_images = unique_images
        self.fp16 = fp16
        self.progress = progress
        self.owner = owner
        self.loaders: Dict[str, object] = {}
        self._pairs = self._pair_ids = self._view_ids = None

    @property
    def use_views(self) -> bool:
        """Encode images and captions separately unless given a dataset of its
        own (whose views cannot be derived) or told not to."""
        return self.unique_images and 'dataset' not in self.dataloader_cfg

    def loader_cfg(self, runner, modality: str = 'pair') -> dict:
        """The pass's dataloader config for one view of the training split."""
        cfg = copy.deepcopy(self.dataloader_cfg)
        cfg.setdefault('sampler', {'type': 'DefaultSampler', 'shuffle': False})
        train = runner.cfg.get('train_dataloader') or {}
        for key in ('num_workers', 'persistent_workers', 'pin_memory'):
            if key not in cfg and key in train:
                cfg[key] = train[key]
        cfg.setdefault('num_workers', 0)
        if cfg['num_workers'] == 0:
            cfg['persistent_workers'] = False
        if 'dataset' in cfg:
            return cfg
        if 'dataset' not in train:
            raise ValueError(
                f'{self.owner}: give dataloader.dataset or a train_dataloader with a dataset config'
            )
        dataset = copy.deepcopy(train['dataset'])
        pipeline = self.eval_pipeline
        for key in ('test_dataloader', 'val_dataloader'):
            loader = runner.cfg.get(key)
            if pipeline is None and loader and 'pipeline' in loader.get('dataset', {}):
                pipeline = copy.deepcopy(loader['dataset']['pipeline'])
        if pipeline is None:
            raise ValueError(f'{self.owner}: set eval_pipeline (no test/val pipeline to reuse)')
        dataset.update(modality=modality, pipeline=pipeline)
        cfg['dataset'] = dataset
        return cfg

    def get_loader(self, runner, modality: str = 'pair'):
        """The loader of one view, built once."""
        if modality not in self.loaders:
            cfg = self.loader_cfg(runner, modality)
            self.loaders[modality] = runner.build_dataloader(cfg, seed=runner.seed)
        return self.loaders[modality]

    def pairs(self, runner):
        """The training pairs' dataset (annotations; no images are loaded)."""
        if not self.use_views:
            return self.get_loader(runner, 'pair').dataset
        if self._pairs is None:
            self._pairs = DATASETS.build(self.loader_cfg(runner, 'pair')['dataset'])
            self._pair_ids = (
                view_ids(self._pairs, 'image_id'),
                view_ids(self._pairs, 'caption_id'),
            )
        return self._pairs

    def num_pairs(self, runner) -> int:
        """Number of training pairs the pass covers."""
        return len(self.pairs(runner))

    def encode_pairs(self, model, loader) -> Tuple[np.ndarray, np.ndarray]:
        """Unit features of a pair-view loader, one image forward per pair.

        Returns:
            tuple[np.ndarray, np.ndarray]: (N, D) float32 each, on every rank.
        """
        out = encode_view(
            model, loader, ('img', 'text'), self.fp16, self.progress, 'clustering: encoding pairs'
        )
        return out['img'], out['text']

    def encode(self, model, runner) -> Tuple[np.ndarray, np.ndarray]:
        """Unit image and text features of every training pair, in dataset order.

        With :attr:`use_views` every image is encoded once (the ``'image'``
        view) and every caption once (the ``'text'`` view); the pair rows are
        gathered through ``image_id`` / ``caption_id``.

        Returns:
            tuple[np.ndarray, np.ndarray]: (N, D) float32 each, on every rank.
        """
        if not self.use_views:
            return self.encode_pairs(model, self.get_loader(runner, 'pair'))
        self.pairs(runner)
        images, texts = self.get_loader(runner, 'image'), self.get_loader(runner, 'text')
        img = encode_view(
            model, images, ('img',), self.fp16, self.progress, 'clustering: encoding images'
        )['img']
        txt = encode_view(
            model, texts, ('text',), self.fp16, self.progress, 'clustering: encoding captions'
        )['text']
        if self._view_ids is None:
            self._view_ids = (
                view_ids(images.dataset, 'image_id'),
                view_ids(texts.dataset, 'caption_id'),
            )
        img = gather_by_id(img, self._view_ids[0], self._pair_ids[0], 'image_id')
        txt = gather_by_id(txt, self._view_ids[1], self._pair_ids[1], 'caption_id')
        return img, txt
