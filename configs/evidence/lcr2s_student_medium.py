# Evidence matrix: LCR²S student distilled from the teacher of the same seed (evidence_matrix.sh
# sets model.teacher_checkpoint per seed).
_base_ = ['../lcr2s_student_synthetic.py', '../_base_/evidence_medium.py']
train_dataloader = dict(dataset=dict(dataset={{_base_.medium_dataset}}))
model = dict(teacher_checkpoint='work_dirs/evidence/lcr2s_teacher_medium/seed0')
val_dataloader = dict(dataset={{_base_.medium_dataset}})
test_dataloader = dict(dataset={{_base_.medium_dataset}})
train_cfg = {{_base_.evidence_train_cfg}}
param_scheduler = {{_base_.evidence_param_scheduler}}
load_from = {{_base_.standin_checkpoint}}
