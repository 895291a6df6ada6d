# Copyright (c) tpr_mm contributors. All rights reserved.
"""Checkpointing that always leaves a complete checkpoint behind."""

import difflib
import inspect

from mmengine.hooks import CheckpointHook
from mmengine.runner import Runner

from tpr_mm.registry import HOOKS
from tpr_mm.utils.mmengine_compat import SaveBeforeRemoveCheckpointHook


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

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        own = list(inspect.signature(CheckpointHook.__init__).parameters)
        own = [p for p in own if p not in ('self', 'kwargs')]
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
