# LCR²S stage 2, the single-input student, on RSTPReid (CLIP adaptation, docs/methods/lcr2s.md).
# Starts from the CLIP weights like the baseline; one reasoning layer per tower; distilled from the
# frozen teacher (feature MSE + relation Frobenius). One command for both stages:
#   python tools/train_two_stage.py configs/lcr2s_teacher_rstp.py configs/lcr2s_student_rstp.py
_base_ = ['./lcr2s_teacher_rstp.py']
model = dict(
    _delete_=True,
    backbone={{_base_.model.backbone}},
    head={{_base_.model.head}},
    teacher={{_base_.model}},
    # A .pth file, a last_checkpoint file or the teacher's work dir (its best_*.pth first),
    # resolved to a file by FrozenTeacherHook before training.
    teacher_checkpoint='work_dirs/lcr2s_teacher_rstp',
    **_base_.lcr2s_clip_student,
)
optim_wrapper = dict(paramwise_cfg=dict(rules=dict(reasoning=dict(lr_mult=5.0))))
# Builds the frozen teacher from teacher_checkpoint before the first training step.
custom_hooks = [*_base_.custom_hooks, dict(type='FrozenTeacherHook')]
