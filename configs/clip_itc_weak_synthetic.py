# Weakly supervised baseline on the synthetic set: the small from-scratch CLIP trained with ITC on
# image-caption pairs only (no identities), same schedule as clip_sdm_synthetic.py.
_base_ = [
    './_base_/models/clip_tiny_sdm.py',
    './_base_/datasets/synthetic_pedes.py',
    './_base_/schedules/synthetic_scratch.py',
    './_base_/default_runtime.py',
]
model = dict(head=dict(losses=[dict(type='ITCLoss', temperature=0.02, loss_weight=1.0)]))
train_dataloader = dict(dataset=dict(identity='drop'))
default_hooks = dict(logger=dict(interval=5))
