# LCR²S stage 2, the single-input student, in its published architecture on CUHK-PEDES: same towers
# from ImageNet/BERT (not from the teacher) + one reasoning layer per tower over [global; 6 parts],
# distilled from the frozen teacher (feature MSE + relation Frobenius). Both stages in one command:
#   python tools/train_two_stage.py configs/lcr2s_rn50_bert_teacher_cuhk.py \
#       configs/lcr2s_rn50_bert_student_cuhk.py
_base_ = ['./lcr2s_rn50_bert_teacher_cuhk.py']
model = dict(
    _delete_=True,
    type='LCR2SStudent',
    data_preprocessor={{_base_.model.data_preprocessor}},
    backbone={{_base_.model.backbone}},
    head={{_base_.model.head}},
    img_reasoning={{_base_.lcr2s_reasoning}},
    text_reasoning={{_base_.lcr2s_reasoning}},
    teacher={{_base_.model}},
    # A .pth file, a last_checkpoint file or the teacher's work dir (its best_*.pth first),
    # resolved to a file by FrozenTeacherHook before training.
    teacher_checkpoint='work_dirs/lcr2s_rn50_bert_teacher_cuhk',
    distill_head={{_base_.lcr2s_distill_head}},
)
# Builds the frozen teacher from teacher_checkpoint before the first training step.
custom_hooks = [*_base_.custom_hooks, dict(type='FrozenTeacherHook')]
