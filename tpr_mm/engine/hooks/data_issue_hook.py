# Copyright (c) tpr_mm contributors. All rights reserved.
"""Per-dataset reports of skipped images, truncated image files and truncated captions."""

from typing import Iterator, List

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.logging import print_log

from tpr_mm.registry import HOOKS

from .shared_count import SharedCount, SharedTally

__all__ = ['DataIssueReportHook', 'SharedCount', 'count_truncated_captions']


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
    """Report skipped images, truncated image files and truncated captions.

    * **Caption truncation**: before a dataset is first used (train, val
      queries, test queries) every distinct caption is tokenised once with
      the pipeline's ``TokenizeCaption`` length, and one warning gives the
      count and examples. (The transform itself also warns at its 1st, 10th,
      100th ... truncation per loader process.)
    * **Skipped images** (``LoadPersonImage(on_error='skip')``): each skip is
      logged by the transform; this hook makes its counter shared across
      dataloader workers and logs the number skipped after each epoch and the
      total at the end of training (per process: rank 0's share under DDP).
      The skip policy needs the dataset's ``max_refetch >= 1`` (a
      replacement item is drawn) and is refused on
      evaluation pipelines, where a replaced gallery image would corrupt the
      metrics — both raise a ``ValueError`` naming the dataset.
    * **Truncated image files** (``LoadPersonImage(truncated='warn')``, the
      default): the transform names each file in a warning; this hook shares
      its ``num_truncated`` counter across workers and logs the reads of
      truncated files after each training epoch, in total after training,
      and after each validation / test run.

    :class:`~tpr_mm.engine.runner.TPRRunner` registers it automatically.
    """

    priority = 'LOW'

    def __init__(self, scan_truncation: bool = True) -> None:
        self.scan_truncation = scan_truncation
        self._scanned = set()
        self._skips = SharedTally()
        self._truncated = {'train': SharedTally(), 'val': SharedTally(), 'test': SharedTally()}

    def before_train(self, runner) -> None:
        dataset = runner.train_dataloader.dataset
        self._skips, self._truncated['train'] = SharedTally(), SharedTally()
        for ds, t in _transforms(dataset, 'LoadPersonImage'):
            self._truncated['train'].attach(t, 'num_truncated')
            if t.on_error != 'skip':
                continue
            if getattr(ds, 'max_refetch', 0) < 1:
                raise ValueError(
                    f"{type(ds).__name__} (train): LoadPersonImage(on_error='skip') needs the "
                    'dataset to draw a replacement item; set max_refetch >= 1 (e.g. 100) in '
                    'train_dataloader.dataset'
                )
            self._skips.attach(t, 'num_skipped')
        self._skips.take_new()
        self._truncated['train'].take_new()
        self._scan(dataset, 'train')

    def after_train_epoch(self, runner) -> None:
        new, total = self._skips.take_new()
        if new:
            print_log(
                f'epoch {runner.epoch + 1}: {new} unreadable image(s) skipped and replaced '
                f'({total} in total); see the warnings above for the files',
                logger='current',
                level=30,
            )
        new, total = self._truncated['train'].take_new()
        if new:
            print_log(
                f'epoch {runner.epoch + 1}: {new} read(s) of truncated image files, decoded '
                f'with the missing part filled in ({total} in total); the files are named in '
                'the warnings above',
                logger='current',
                level=30,
            )

    def after_train(self, runner) -> None:
        if self._skips.counters:
            skipped = self._skips.total()
            print_log(
                f"LoadPersonImage(on_error='skip'): {skipped} unreadable image(s) "
                'skipped during training in total',
                logger='current',
                level=30 if skipped else 20,
            )
        truncated = self._truncated['train'].total()
        if truncated:
            print_log(
                f'LoadPersonImage: {truncated} read(s) of truncated image files during '
                "training in total (truncated='warn'; 'error' refuses them)",
                logger='current',
                level=30,
            )

    def before_val(self, runner) -> None:
        self._check_eval(runner.val_loop, 'val')

    def before_test(self, runner) -> None:
        self._check_eval(runner.test_loop, 'test')

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._report_eval('val')

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._report_eval('test')

    def _report_eval(self, name: str) -> None:
        new, _ = self._truncated[name].take_new()
        if new:
            print_log(
                f'{name}: {new} read(s) of truncated image files during this evaluation, '
                'decoded with the missing part filled in; the files are named in the '
                'warnings above',
                logger='current',
                level=30,
            )

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
                self._truncated[name].attach(t, 'num_truncated')
            self._scan(loader.dataset, name)
        self._truncated[name].take_new()  # count from here

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
