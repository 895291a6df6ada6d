# Copyright (c) tpr_mm contributors. All rights reserved.
"""Engine-side MMEngine internals (part of :mod:`tpr_mm.utils.mmengine_compat`).

Everything else in ``tpr_mm`` extends MMEngine through public hooks,
overrides and registries. The three behaviours below cannot be changed that
way; each item names the MMEngine behaviour it works around. They were
written against, and are tested on, the MMEngine releases in
:data:`TESTED_MMENGINE`; importing this module with any other release is an
error, so an MMEngine upgrade fails at start-up instead of silently losing
crash safety.

* :class:`SaveBeforeRemoveCheckpointHook` — ``CheckpointHook`` deletes the
  checkpoint beyond ``max_keep_ckpts`` and the previous best checkpoint
  *before* it writes the new one, and writes ``last_checkpoint`` with a plain
  truncating ``open``; both happen inside the private
  ``_save_checkpoint_with_step`` / ``_save_best_checkpoint``.
* :func:`mark_checkpoint_loaded` — ``Runner.load_or_resume`` skips loading
  when the private ``_has_loaded`` flag is set, which MMEngine's own
  ``load_checkpoint`` sets; a runner overriding ``load_checkpoint`` must set
  it too, and there is no public setter.
* :func:`history_buffer_statistics` — checkpoints pickle message-hub
  ``HistoryBuffer`` objects with references to their statistics methods; the
  registered method names live only in the private
  ``HistoryBuffer._statistics_methods``.
"""

import os.path as osp
from typing import List, Set

import mmengine
from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.utils import digit_version

__all__ = [
    'TESTED_MMENGINE',
    'SaveBeforeRemoveCheckpointHook',
    'check_mmengine_version',
    'history_buffer_statistics',
    'mark_checkpoint_loaded',
]

#: Half-open range ``[low, high)`` of MMEngine versions this module is tested on
#: (the pin of requirements/runtime.txt).
TESTED_MMENGINE = ('0.10.7', '0.11.0')


def check_mmengine_version(version: str = mmengine.__version__) -> None:
    """Raise when ``version`` is outside :data:`TESTED_MMENGINE`.

    Args:
        version (str): An MMEngine version string.

    Raises:
        RuntimeError: Naming the installed version and the tested range.
    """
    low, high = TESTED_MMENGINE
    if not digit_version(low) <= digit_version(version) < digit_version(high):
        raise RuntimeError(
            f'tpr_mm relies on MMEngine internals tested on mmengine>={low},<{high} '
            f'(tpr_mm/utils/mmengine_compat/), but mmengine {version} is installed. '
            f'Install a tested release (pip install "mmengine>={low},<{high}").'
        )


check_mmengine_version()


def mark_checkpoint_loaded(runner) -> None:
    """Tell ``Runner.load_or_resume`` that a checkpoint is already loaded."""
    runner._has_loaded = True


def history_buffer_statistics() -> Set[str]:
    """Names of the statistics methods registered on ``HistoryBuffer``.

    The four built-in ones are registered by the first ``HistoryBuffer()``;
    they are included even before that.
    """
    from mmengine.logging import HistoryBuffer

    return set(HistoryBuffer._statistics_methods) | {'min', 'max', 'mean', 'current'}


class _DeferRemovals:
    """A file backend whose ``remove``/``rmtree`` are only recorded."""

    def __init__(self, backend) -> None:
        self._backend = backend
        self.removed: List[str] = []

    def remove(self, path: str) -> None:
        self.removed.append(path)

    def rmtree(self, path: str) -> None:
        self.removed.append(path)

    def __getattr__(self, name: str):
        return getattr(self._backend, name)


class SaveBeforeRemoveCheckpointHook(CheckpointHook):
    """``CheckpointHook`` that removes old checkpoints only after saving.

    Works around MMEngine 0.10's ``CheckpointHook``, which deletes the oldest
    checkpoint (``max_keep_ckpts``) and the previous best before writing the
    new one, so a crash while writing leaves no complete checkpoint; and which
    truncates and rewrites ``last_checkpoint`` in place. Here stale files are
    removed after the new checkpoint exists, and ``last_checkpoint`` is
    written atomically after the checkpoint it names. Arguments are MMEngine's.
    """

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
        # Restates MMEngine 0.10.7's method with the removal moved last.
        from tpr_mm.fileio import atomic_write_text  # fileio imports this module

        stale: List[int] = []
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids and self.keep_ckpt_ids[-1] == step):
            # The same step is saved twice when a new best re-saves it.
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                stale.append(self.keep_ckpt_ids.popleft())
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        ckpt_filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, ckpt_filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(
            self.out_dir,
            ckpt_filename,
            self.file_client_args,
            save_optimizer=self.save_optimizer,
            save_param_scheduler=self.save_param_scheduler,
            meta=meta,
            by_epoch=self.by_epoch,
            backend_args=self.backend_args,
            **self.args,
        )
        if not is_main_process():
            return
        atomic_write_text(self.last_ckpt, osp.join(runner.work_dir, 'last_checkpoint'))
        for old in stale:
            self.remove_checkpoint(
                self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old))
            )

    def _save_best_checkpoint(self, runner, metrics: dict) -> None:
        # MMEngine removes the previous best through ``self.file_backend``
        # before saving the new one: hand it a backend that only records the
        # removals, and carry them out once the new best exists.
        backend = self.file_backend
        recorder = _DeferRemovals(backend)
        self.file_backend = recorder
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        current = {
            getattr(self, 'best_ckpt_path', None),
            *getattr(self, 'best_ckpt_path_dict', {}).values(),
        }
        for path in recorder.removed:
            if path not in current:
                self.remove_checkpoint(path)

    def remove_checkpoint(self, path: str) -> None:
        """Delete a checkpoint file or DeepSpeed folder, never the newest one.

        Args:
            path (str): The checkpoint to delete.
        """
        if path == self.last_ckpt:
            return
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # DeepSpeed checkpoints are folders
            self.file_backend.rmtree(path)
