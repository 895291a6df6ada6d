# Copyright (c) tpr_mm contributors. All rights reserved.
"""FrozenTeacherHook resolves the teacher's work dir and builds the teacher before training."""

from types import SimpleNamespace

import pytest
import torch

from tpr_mm.engine.hooks import FrozenTeacherHook
from tpr_mm.registry import MODELS
from tpr_mm.testing.configs import tiny_model_cfg

IMG, CTX = (32, 16), 24


def _backbone():
    return dict(
        type='OpenCLIPBackbone',
        pretrained=None,
        img_size=IMG,
        context_length=CTX,
        model_cfg=tiny_model_cfg(IMG, CTX),
    )


def _teacher_cfg():
    return dict(
        type='LCR2STeacher',
        backbone=_backbone(),
        head=dict(type='GlobalMatchingHead', losses=[dict(type='SDMLoss')]),
        img_fusion=dict(type='MultiHeadAttentionalFusion', num_heads=4),
        text_fusion=dict(type='MultiHeadAttentionalFusion', num_heads=4),
    )


def _student(checkpoint, distill=True):
    return MODELS.build(
        dict(
            type='LCR2SStudent',
            backbone=_backbone(),
            img_reasoning=dict(type='TokenReasoningLayer', num_heads=4),
            text_reasoning=dict(type='TokenReasoningLayer', num_heads=4),
            head=dict(type='GlobalMatchingHead', losses=[dict(type='SDMLoss')]),
            teacher=_teacher_cfg(),
            teacher_checkpoint=checkpoint,
            distill_head=dict(type='DistillationHead', losses=[dict(type='FeatureDistillLoss')])
            if distill
            else None,
        )
    )


@pytest.fixture(scope='module')
def teacher_dir(tmp_path_factory):
    work = tmp_path_factory.mktemp('teacher')
    torch.manual_seed(0)
    teacher = MODELS.build(_teacher_cfg())
    last, best = work / 'epoch_2.pth', work / 'best_t2i_R1_epoch_1.pth'
    torch.save({'state_dict': teacher.state_dict(), 'meta': {}}, best)
    torch.save({'state_dict': {k: v + 1 for k, v in teacher.state_dict().items()}}, last)
    (work / 'last_checkpoint').write_text(str(last))
    return work, teacher.state_dict()


@pytest.mark.parametrize('prefer, shift', [('best', 0), ('last', 1)])
def test_work_dir_becomes_the_frozen_teacher(teacher_dir, prefer, shift):
    work, saved = teacher_dir
    student = _student(str(work))
    FrozenTeacherHook(prefer=prefer).before_train(SimpleNamespace(model=student))
    teacher = student.teacher
    assert teacher is not None and not teacher.training
    assert all(not p.requires_grad for p in teacher.parameters())
    for key, value in saved.items():
        torch.testing.assert_close(teacher.state_dict()[key], value + shift)


def test_students_without_distillation_and_other_models_are_left_alone(tmp_path):
    student = _student(str(tmp_path / 'no_teacher_here'), distill=False)
    FrozenTeacherHook().before_train(SimpleNamespace(model=student))
    assert student.teacher is None
    FrozenTeacherHook().before_train(SimpleNamespace(model=torch.nn.Linear(2, 2)))


def test_missing_teacher_fails_before_training(tmp_path):
    student = _student(str(tmp_path / 'no_teacher_here'))
    with pytest.raises(FileNotFoundError, match='no_teacher_here not found'):
        FrozenTeacherHook().before_train(SimpleNamespace(model=student))
    with pytest.raises(ValueError, match='teacher_checkpoint'):
        FrozenTeacherHook().before_train(SimpleNamespace(model=_student(None)))
    with pytest.raises(ValueError, match="'best' or 'last'"):
        FrozenTeacherHook(prefer='newest')
