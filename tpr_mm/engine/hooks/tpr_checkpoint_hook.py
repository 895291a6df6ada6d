# Copyright (c) tpr_mm contributors. All rights reserved.
"""Checkpointing that always leaves a complete checkpoint behind."""

import difflib
import inspect
import os.path as osp
from typing import List

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook
from mmengine.runner import Runner

from tpr_mm.fileio import atomic_write_text
from tpr_mm.registry import HOOKS


@HOOKS.register_module()
class TPRCheckpointHook(CheckpointHook):
    """:class:`~mmengine.hooks.CheckpointHook` with crash-safe bookkeeping.

    Same arguments and files as MMEngine's hook, with three changes so that
    a crash at any point (SIGKILL included) leaves the previous checkpoint
    usable and ``--resume`` pointed at a complete file:

    * checkpoints beyond ``max_keep_ckpts`` and the previous best checkpoint
      are removed *after* the new one is written (MMEngine removes first);
    * the ``last_checkpoint`` pointer is written atomically, after the
      checkpoint it names;
    * checkpoint files themselves are written atomically by
      :class:`~tpr_mm.engine.runner.TPRRunner` (``'atomic_local'`` backend).

    MMEngine's hook accepts any extra keyword and hands it to
    ``Runner.save_checkpoint`` at the first save, so a typo (``intervl=1``)
    fails only after a whole epoch; here an argument that neither the hook nor
    ``save_checkpoint`` accepts is a ``TypeError`` when the hook is built.
    """

    # Runner.save_checkpoint arguments the hook always passes itself.
    _PASSED_BY_HOOK = (
        'self',
        'out_dir',
        'filename',
        'file_client_args',
        'save_optimizer',
        'save_param_scheduler',
        'meta',
        'by_epoch',
        'backend_args',
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        own = list(inspect.signature(CheckpointHook.__init__).parameters)
        own = [p for p in own if p not in ('self', 'kwargs')]
        forwarded = [
            p
            for p in inspect.signature(Runner.save_checkpoint).parameters
            if p not in self._PASSED_BY_HOOK
        ]
        unknown = [k for k in self.args if k not in forwarded]
        if unknown:
            hints = []
            for key in unknown:
                close = difflib.get_close_matches(key, own + forwarded, n=1)
                hints.append(f"'{key}'" + (f" (did you mean '{close[0]}'?)" if close else ''))
            raise TypeError(
                f'{type(self).__name__} (default_hooks.checkpoint) got unknown argument(s) '
                f'{", ".join(hints)}; it accepts: {", ".join(own + forwarded)}'
            )

    def _save_checkpoint_with_step(self, runner, step: int, meta: dict) -> None:
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
            self._remove(self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(old)))

    def _save_best_checkpoint(self, runner, metrics: dict) -> None:
        # MMEngine removes the previous best before saving the new one;
        # collect those removals and carry them out once the new one exists.
        backend = self.file_backend
        deferred: List[str] = []
        backend.remove = deferred.append
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            del backend.remove
        current = {
            getattr(self, 'best_ckpt_path', None),
            *getattr(self, 'best_ckpt_path_dict', {}).values(),
        }
        for path in deferred:
            if path not in current:
                self._remove(path)

    def _remove(self, path: str) -> None:
        if path == self.last_ckpt:
            return
        if self.file_backend.isfile(path):
            self.file_backend.remove(path)
        elif self.file_backend.isdir(path):  # DeepSpeed checkpoints are folders
            self.file_backend.rmtree(path)
