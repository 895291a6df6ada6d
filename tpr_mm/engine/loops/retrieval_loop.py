# Copyright (c) tpr_mm contributors. All rights reserved.
"""Validation/test loops that encode the gallery and the queries once each.

Source: anosorae/IRRA:utils/metrics.py (``Evaluator._compute_embedding``: each view encoded once).
"""

import copy
from typing import Dict, List, Optional, Union

import torch
from mmengine.dist import is_main_process
from mmengine.runner import TestLoop, ValLoop
from mmengine.runner.amp import autocast
from torch.utils.data import DataLoader
from tqdm import tqdm

from tpr_mm.registry import LOOPS


def _view_cfg(dataloader: Union[DataLoader, Dict], modality: str) -> Union[DataLoader, Dict]:
    if isinstance(dataloader, DataLoader):
        return dataloader
    cfg = copy.deepcopy(dataloader)
    cfg['dataset']['modality'] = modality
    return cfg


def _diff_rank_seed(runner) -> bool:
    """The run's ``randomness.diff_rank_seed``, read through public attributes.

    :class:`~tpr_mm.engine.runner.TPRRunner` records it when it sets the seed;
    another runner built from a config (``Runner.from_cfg``) has it in its config.
    """
    recorded = getattr(runner, 'diff_rank_seed', None)
    if recorded is not None:
        return bool(recorded)
    return bool((runner.cfg.get('randomness') or {}).get('diff_rank_seed', False))


class _RetrievalLoopMixin:
    """Shared encoding of the two views.

    The configured dataloader describes the split; the loop derives a query
    view (``modality='text'``: one item per caption) and a gallery view
    (``modality='image'``: one item per unique image) from it, so each image
    and each caption is encoded exactly once.
    """

    progress: bool

    def _init_views(self, runner, dataloader, gallery_dataloader) -> tuple:
        query = _view_cfg(dataloader, 'text')
        if gallery_dataloader is None:
            if isinstance(dataloader, DataLoader):
                raise ValueError(
                    'pass gallery_dataloader when the query dataloader is already built'
                )
            gallery_dataloader = _view_cfg(dataloader, 'image')
        if isinstance(gallery_dataloader, dict):
            diff_rank_seed = _diff_rank_seed(runner)
            gallery_dataloader = runner.build_dataloader(
                gallery_dataloader, seed=runner.seed, diff_rank_seed=diff_rank_seed
            )
        return query, gallery_dataloader

    @torch.no_grad()
    def _encode(self, loader: DataLoader, desc: str, start_idx: int, hook_prefix: str) -> int:
        bar = tqdm(
            total=len(loader),
            desc=desc,
            disable=not (self.progress and is_main_process()),
            dynamic_ncols=True,
            leave=False,
        )
        idx = start_idx
        for data_batch in loader:
            self.runner.call_hook(
                f'before_{hook_prefix}_iter', batch_idx=idx, data_batch=data_batch
            )
            with autocast(enabled=self.fp16):
                outputs = (
                    self.runner.model.val_step(data_batch)
                    if hook_prefix == 'val'
                    else self.runner.model.test_step(data_batch)
                )
            self.evaluator.process(data_samples=outputs, data_batch=data_batch)
            self.runner.call_hook(
                f'after_{hook_prefix}_iter', batch_idx=idx, data_batch=data_batch, outputs=outputs
            )
            idx += 1
            bar.update(1)
        bar.close()
        return idx

    def _run_views(self, hook_prefix: str) -> dict:
        self.runner.call_hook(f'before_{hook_prefix}')
        self.runner.call_hook(f'before_{hook_prefix}_epoch')
        self.runner.model.eval()
        n = self._encode(self.gallery_dataloader, 'encoding gallery images', 0, hook_prefix)
        self._encode(self.dataloader, 'encoding query captions', n, hook_prefix)
        size = len(self.dataloader.dataset) + len(self.gallery_dataloader.dataset)
        metrics = self.evaluator.evaluate(size)
        self.runner.call_hook(f'after_{hook_prefix}_epoch', metrics=metrics)
        self.runner.call_hook(f'after_{hook_prefix}')
        return metrics


@LOOPS.register_module()
class RetrievalValLoop(_RetrievalLoopMixin, ValLoop):
    """Text-to-image validation loop.

    Args:
        runner (Runner): The runner.
        dataloader (dict | DataLoader): Dataloader of the split; its dataset's
            ``modality`` is set to ``'text'`` for queries.
        evaluator (dict | list | Evaluator): Usually
            ``TextImageRetrievalMetric``.
        gallery_dataloader (dict | DataLoader, optional): Defaults to the same
            config with ``modality='image'``.
        fp16 (bool): Autocast during encoding. Defaults to False.
        progress (bool): Show progress bars on the main process.
    """

    def __init__(
        self,
        runner,
        dataloader: Union[DataLoader, Dict],
        evaluator: Union[Dict, List],
        gallery_dataloader: Optional[Union[DataLoader, Dict]] = None,
        fp16: bool = False,
        progress: bool = True,
    ) -> None:
        self.progress = progress
        query, gallery = self._init_views(runner, dataloader, gallery_dataloader)
        super().__init__(runner, query, evaluator, fp16)
        self.gallery_dataloader = gallery

    def run(self) -> dict:
        return self._run_views('val')


@LOOPS.register_module()
class RetrievalTestLoop(_RetrievalLoopMixin, TestLoop):
    """Text-to-image test loop; arguments as :class:`RetrievalValLoop`."""

    def __init__(
        self,
        runner,
        dataloader: Union[DataLoader, Dict],
        evaluator: Union[Dict, List],
        gallery_dataloader: Optional[Union[DataLoader, Dict]] = None,
        fp16: bool = False,
        progress: bool = True,
    ) -> None:
        self.progress = progress
        query, gallery = self._init_views(runner, dataloader, gallery_dataloader)
        super().__init__(runner, query, evaluator, fp16)
        self.gallery_dataloader = gallery

    def run(self) -> dict:
        return self._run_views('test')
