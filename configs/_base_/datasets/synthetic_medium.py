# The medium synthetic benchmark (docs/evidence.md): the pipelines of synthetic_pedes.py on the
# data of synthetic_medium_params.py.
_base_ = ['./synthetic_pedes.py', './synthetic_medium_params.py']
train_dataloader = dict(dataset={{_base_.medium_dataset}})
val_dataloader = dict(dataset={{_base_.medium_dataset}})
test_dataloader = dict(dataset={{_base_.medium_dataset}})
