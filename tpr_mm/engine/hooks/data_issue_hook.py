# Copyright (c) tpr_mm contributors. All rights reserved.
"""Per-dataset reports of skipped images and truncated captions."""

import multiprocessing
from typing import Iterator, List

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from tpr_mm.registry import HOOKS

__all__ = ['DataIssueReportHook', 'SharedCount', 'count_truncated_captions']


class SharedCount:
    """An int-like counter shared by the dataloader worker processes.

    ``LoadPersonImage`` counts skipped images with ``self.num_skipped += 1``;
    in a worker process that increments the worker's copy only. Replacing
    the attribute with this object (``+=`` increments shared memory in place,
    inherited by forked and spawned workers) makes the main process see the
    total.
    """

    def __init__(self, value: int = 0) -> None:
        self._value = multiprocessing.Value('q', int(value))

    def __iadd__(self, other: int) -> 'SharedCount':
        with self._value.get_lock():
            self._value.value += int(other)
        return self

    def __int__(self) -> int:
        return int(self._value.value)

    __index__ = __int__

    def __eq__(self, other) -> bool:
        return int(self) == other

    __hash__ = None

    def __format__(self, spec: str) -> str:
        return format(int(self), spec)

    def __repr__(self) -> str:
        return str(int(self))

    def __copy__(self) -> 'SharedCount':
        return self  # e.g. ``dataset.get_subset`` copies the pipeline: keep one count

    def __deepcopy__(self, memo: dict) -> 'SharedCount':
        return self


def _datasets(dataset) -> Iterator:
    """The dataset and those it wraps (``dataset`` / ``datasets`` attributes)."""
    yield dataset
    inner = getattr(dataset, 'dataset', None)
    if inner is not None:
        yield from _datasets(inner)
    for child in getattr(dataset, 'datasets', None) or []:
        yield from _datasets(child)


def _transforms(dataset, cls_name: str) -> List:
    found = []
    for ds in _datasets(dataset):
        pipeline = getattr(ds, 'pipeline', None)
        for t in getattr(pipeline, 'transforms', None) or []:
            if type(t).__name__ == cls_name:
                found.append((ds, t))
    return found


def count_truncated_captions(dataset, context_length: int) -> tuple:
    """Count the distinct captions of ``dataset`` longer than ``context_length`` tokens.

    Args:
        dataset: A text re-id dataset (items with a ``caption`` key).
        context_length (int): Token budget including SOT and EOT.

    Returns:
        tuple[int, int, list[str]]: truncated count, caption count, up to 3
        truncated captions (first 60 characters).
    """
    from tpr_mm.datasets.transforms.tokenize import tokenize_caption

    seen, truncated, examples = set(), 0, []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        caption = info.get('caption')
        key = info.get('caption_id', caption)
        if caption is None or key in seen:
            continue
        seen.add(key)
        if tokenize_caption(caption, context_length)[1]:
            truncated += 1
            if len(examples) < 3:
                examples.append(caption[:60])
    return truncated, len(seen), examples


@HOOKS.register_module()
class DataIssueReportHook(Hook):
    """Report skipped images and truncated captions once per dataset.

    * **Truncation**: before a dataset is first used (train, val queries,
      test queries) every distinct caption is tokenised once with the
      pipeline's ``TokenizeCaption`` length, and one warning gives the count
      and examples. (The transform itself also warns at its 1st, 10th,
      100th ... truncation per loader process.)
    * **Skipped images** (``LoadPersonImage(on_error='skip')``): each skip is
      logged by the transform; this hook makes its counter shared across
      dataloader workers and logs the number skipped after each epoch and the
      total at the end of training (per process: rank 0's share under DDP).
      The skip policy needs the dataset's ``max_refetch >= 1`` (a
      replacement item is drawn) and is refused on
      evaluation pipelines, where a replaced gallery image would corrupt the
      metrics — both raise a ``ValueError`` naming the dataset.

    :class:`~tpr_mm.engine.runner.TPRRunner` registers it automatically.
    """

    priority = 'LOW'

    def __init__(self, scan_truncation: bool = True) -> None:
        self.scan_truncation = scan_truncation
        self._scanned = set()
        self._skip_counters: List = []
        self._reported_skips = 0

    def before_train(self, runner) -> None:
        dataset = runner.train_dataloader.dataset
        self._skip_counters = []
        for ds, t in _transforms(dataset, 'LoadPersonImage'):
            if t.on_error != 'skip':
                continue
            if getattr(ds, 'max_refetch', 0) < 1:
                raise ValueError(
                    f"{type(ds).__name__} (train): LoadPersonImage(on_error='skip') needs the "
                    'dataset to draw a replacement item; set max_refetch >= 1 (e.g. 100) in '
                    'train_dataloader.dataset'
                )
            if not isinstance(t.num_skipped, SharedCount):
                t.num_skipped = SharedCount(int(t.num_skipped))
            self._skip_counters.append(t.num_skipped)
        self._reported_skips = self._skipped()
        self._scan(dataset, 'train')

    def _skipped(self) -> int:
        return sum(int(c) for c in self._skip_counters)

    def after_train_epoch(self, runner) -> None:
        total = self._skipped()
        new, self._reported_skips = total - self._reported_skips, total
        if new:
            print_log(
                f'epoch {runner.epoch + 1}: {new} unreadable image(s) skipped and replaced '
                f'({total} in total); see the warnings above for the files',
                logger='current',
                level=30,
            )

    def after_train(self, runner) -> None:
        if self._skip_counters:
            print_log(
                f"LoadPersonImage(on_error='skip'): {self._skipped()} unreadable image(s) "
                'skipped during training in total',
                logger='current',
                level=30 if self._skipped() else 20,
            )

    def before_val(self, runner) -> None:
        self._check_eval(runner.val_loop, 'val')

    def before_test(self, runner) -> None:
        self._check_eval(runner.test_loop, 'test')

    def _check_eval(self, loop, name: str) -> None:
        loaders = [getattr(loop, 'dataloader', None), getattr(loop, 'gallery_dataloader', None)]
        for loader in loaders:
            if loader is None:
                continue
            for ds, t in _transforms(loader.dataset, 'LoadPersonImage'):
                if t.on_error == 'skip':
                    raise ValueError(
                        f"{type(ds).__name__} ({name}): LoadPersonImage(on_error='skip') is for "
                        'training only; a skipped gallery image would be replaced by another '
                        "and corrupt the metrics. Use on_error='raise' in the evaluation pipeline"
                    )
            self._scan(loader.dataset, name)

    def _scan(self, dataset, name: str) -> None:
        if not self.scan_truncation or id(dataset) in self._scanned or not is_main_process():
            return
        self._scanned.add(id(dataset))
        lengths = {t.context_length for _, t in _transforms(dataset, 'TokenizeCaption')}
        for length in sorted(lengths):
            truncated, total, examples = count_truncated_captions(dataset, length)
            if truncated:
                shown = '; '.join(repr(e + '...') for e in examples)
                print_log(
                    f'{type(dataset).__name__} ({name}): {truncated} of {total} captions are '
                    f'longer than {length} tokens and will be truncated (first {length - 1} '
                    f'tokens kept, then EOT), e.g. {shown}',
                    logger='current',
                    level=30,
                )
