# Evidence matrix: CFine (MGF + CFR + FCD) on the medium benchmark, from the stand-in.
_base_ = ['../cfine_synthetic.py', '../_base_/evidence_medium.py']
train_dataloader = dict(dataset={{_base_.medium_dataset}})
model = dict(head=dict(losses=dict(cmpc=dict(num_classes={{_base_.medium_dataset.num_train_ids}}))))
val_dataloader = dict(dataset={{_base_.medium_dataset}})
test_dataloader = dict(dataset={{_base_.medium_dataset}})
train_cfg = {{_base_.evidence_train_cfg}}
param_scheduler = {{_base_.evidence_param_scheduler}}
load_from = {{_base_.standin_checkpoint_image_backbone}}
