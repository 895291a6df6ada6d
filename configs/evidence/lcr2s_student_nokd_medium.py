# Evidence matrix: the LCR²S student architecture without distillation (no teacher, no distillation head).
_base_ = ['../lcr2s_student_synthetic.py', '../_base_/evidence_medium.py']
train_dataloader = dict(dataset=dict(dataset={{_base_.medium_dataset}}))
model = dict(teacher=None, teacher_checkpoint=None, distill_head=None)
val_dataloader = dict(dataset={{_base_.medium_dataset}})
test_dataloader = dict(dataset={{_base_.medium_dataset}})
train_cfg = {{_base_.evidence_train_cfg}}
param_scheduler = {{_base_.evidence_param_scheduler}}
load_from = {{_base_.standin_checkpoint}}
