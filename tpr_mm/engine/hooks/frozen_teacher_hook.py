# Copyright (c) tpr_mm contributors. All rights reserved.
"""Pick the teacher's checkpoint from its work dir and build the frozen teacher."""

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from tpr_mm.engine.runner.checkpoint import resolve_checkpoint
from tpr_mm.models.retrievers import LCR2SStudent
from tpr_mm.registry import HOOKS


@HOOKS.register_module()
class FrozenTeacherHook(Hook):
    """Build a distilling student's frozen teacher before the first training step.

    The LCR²S student configs name the teacher's work dir
    (``model.teacher_checkpoint='work_dirs/lcr2s_teacher_<set>'``); the model
    itself only loads a checkpoint file. This hook turns the configured
    ``.pth`` file, ``last_checkpoint`` pointer or work dir into a file
    (:func:`~tpr_mm.engine.runner.checkpoint.resolve_checkpoint`) and has the
    student build its teacher from it, so a missing teacher is an error at
    the start of training rather than at the first iteration. Testing never
    calls it: a student checkpoint needs no teacher file. Models other than a
    distilling :class:`~tpr_mm.models.retrievers.LCR2SStudent` are left alone.

    Args:
        prefer (str): In a work dir, ``'best'`` (the val-selected
            ``best_*.pth``, falling back to the last checkpoint) or
            ``'last'``. Defaults to ``'best'``.
    """

    priority = 'NORMAL'

    def __init__(self, prefer: str = 'best') -> None:
        if prefer not in ('best', 'last'):
            raise ValueError(f"prefer must be 'best' or 'last', got {prefer!r}")
        self.prefer = prefer

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if not isinstance(model, LCR2SStudent) or model.distill_head is None:
            return
        if not model.teacher_checkpoint:
            model.build_teacher()  # raises the model's own error naming teacher_checkpoint
        model.build_teacher(resolve_checkpoint(model.teacher_checkpoint, self.prefer))
