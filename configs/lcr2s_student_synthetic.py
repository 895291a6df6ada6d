# LCR²S stage 2, the single-input student, on the synthetic set. Train the teacher first
# (or run tools/train_two_stage.py configs/lcr2s_teacher_synthetic.py configs/lcr2s_student_synthetic.py).
# The student starts from scratch like the baseline; the frozen teacher's enriched features on the
# same batches (with support sets) supervise it through feature and relation distillation.
_base_ = ['./lcr2s_teacher_synthetic.py']
model = dict(
    _base_.lcr2s_clip_student,  # type, preprocessor, distillation losses
    _delete_=True,
    backbone={{_base_.model.backbone}},
    head={{_base_.model.head}},
    # The reasoning layers take their width from the tiny CLIP (no embed_dims).
    img_reasoning=dict(type='TokenReasoningLayer', num_heads=8, ffn_ratio=4.0),
    text_reasoning=dict(type='TokenReasoningLayer', num_heads=8, ffn_ratio=4.0),
    teacher={{_base_.model}},
    # A .pth file, a last_checkpoint file or the teacher's work dir (its best_*.pth first),
    # resolved to a file by FrozenTeacherHook before training.
    teacher_checkpoint='work_dirs/lcr2s_teacher_synthetic',
)
# Builds the frozen teacher from teacher_checkpoint before the first training step.
custom_hooks = [*_base_.custom_hooks, dict(type='FrozenTeacherHook')]
