# Evidence matrix: CPCL without OPLM.
_base_ = ['../ablations/cpcl_synthetic_no_oplm.py', '../_base_/evidence_medium.py']
train_dataloader = dict(dataset={{_base_.medium_dataset}})
val_dataloader = dict(dataset={{_base_.medium_dataset}})
test_dataloader = dict(dataset={{_base_.medium_dataset}})
train_cfg = {{_base_.evidence_train_cfg}}
param_scheduler = {{_base_.evidence_param_scheduler}}
load_from = {{_base_.standin_checkpoint}}
