# Copyright (c) tpr_mm contributors. All rights reserved.
"""Checkpointing that always leaves a complete checkpoint behind."""

import difflib
import inspect
import os
import os.path as osp
import re
from typing import List

from mmengine.hooks import CheckpointHook
from mmengine.runner import Runner

from tpr_mm.registry import HOOKS
from tpr_mm.utils.dist import broadcast_from_rank0
from tpr_mm.utils.mmengine_compat import SaveBeforeRemoveCheckpointHook

# Files a checkpoint hook writes (MMEngine's default filename_tmpl, best checkpoints, pointer).
_OWN_FILES = re.compile(r'^((epoch|iter)_\d+\.pth|best_.*\.pth|last_checkpoint)$')


def earlier_run_files(out_dir: str, work_dir: str) -> List[str]:
    """Checkpoint files of an earlier run in ``out_dir`` / ``work_dir`` (local folders)."""
    found = set()
    for folder in {out_dir, work_dir}:
        if isinstance(folder, str) and osp.isdir(folder):
            found.update(osp.join(folder, n) for n in os.listdir(folder) if _OWN_FILES.match(n))
    return sorted(found)


@HOOKS.register_module()
class TPRCheckpointHook(SaveBeforeRemoveCheckpointHook):
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

    The first two change MMEngine-internal steps and live in
    :class:`tpr_mm.utils.mmengine_compat.SaveBeforeRemoveCheckpointHook`.

    MMEngine's hook accepts any extra keyword and hands it to
    ``Runner.save_checkpoint`` at the first save, so a typo (``intervl=1``)
    fails only after a whole epoch; here an argument that neither the hook nor
    ``save_checkpoint`` accepts is a ``TypeError`` when the hook is built.

    A new run (not ``--resume``) into a folder that holds checkpoints of an
    earlier run would overwrite its ``epoch_N.pth``, ``best_*.pth`` and
    ``last_checkpoint`` one by one (MMEngine's behaviour) and leave the rest
    mixed with the new run's files; it is refused with a ``FileExistsError``
    naming them, unless ``overwrite_existing=True``.

    Args:
        overwrite_existing (bool): Let a new run replace an earlier run's
            checkpoints in the same folder. Defaults to False.
        *args, **kwargs: :class:`~mmengine.hooks.CheckpointHook`'s.
    """

    # Runner.save_checkpoint arguments the hook always passes itself.
    PASSED_BY_HOOK = (
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

    def __init__(self, *args, overwrite_existing: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.overwrite_existing = bool(overwrite_existing)
        own = list(inspect.signature(CheckpointHook.__init__).parameters)
        own = [p for p in own if p not in ('self', 'kwargs')] + ['overwrite_existing']
        forwarded = [
            p
            for p in inspect.signature(Runner.save_checkpoint).parameters
            if p not in self.PASSED_BY_HOOK
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

    def before_train(self, runner) -> None:
        super().before_train(runner)
        resumed = getattr(runner, '_resume', False) and getattr(runner, '_has_loaded', False)
        if resumed or self.overwrite_existing:
            return
        (found,) = broadcast_from_rank0(
            lambda: (earlier_run_files(self.out_dir, runner.work_dir),),
            1,
            'TPRCheckpointHook: listing earlier checkpoints',
        )
        if found:
            shown = ', '.join(found[:5]) + (f' and {len(found) - 5} more' if len(found) > 5 else '')
            raise FileExistsError(
                f'refusing to start a new training run in {self.out_dir}: it holds checkpoints '
                f'of an earlier run ({shown}) that this run would overwrite or delete. Continue '
                'that run with --resume, choose another --work-dir, or replace them with '
                '--cfg-options default_hooks.checkpoint.overwrite_existing=True'
            )
