# Evidence matrix: supervised baseline (SDM + ITC) on the medium benchmark, from the stand-in.
_base_ = ['../clip_sdm_synthetic.py', '../_base_/evidence_medium.py']
train_dataloader = dict(dataset={{_base_.medium_dataset}})
val_dataloader = dict(dataset={{_base_.medium_dataset}})
test_dataloader = dict(dataset={{_base_.medium_dataset}})
train_cfg = {{_base_.evidence_train_cfg}}
param_scheduler = {{_base_.evidence_param_scheduler}}
load_from = {{_base_.standin_checkpoint}}
