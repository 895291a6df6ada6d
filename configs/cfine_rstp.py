# CFine on CLIP ViT-B/16 towers (see cfine_cuhk.py) on RSTPReid.
_base_ = [
    './_base_/models/cfine_clip_vit_b16.py',
    './_base_/datasets/rstp_reid.py',
    './_base_/schedules/cfine_50e.py',
    './_base_/default_runtime.py',
]
model = dict(head=dict(losses=dict(cmpc=dict(num_classes={{_base_.num_identities}}))))
train_dataloader = dict(batch_size=32, drop_last=True)
