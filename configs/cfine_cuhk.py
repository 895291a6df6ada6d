# CFine on CLIP ViT-B/16 towers (image AND text: deviation from the BERT text tower of the paper,
# see docs/methods/cfine.md), 384x128 pipelines, CFine's published optimiser and schedule.
_base_ = [
    './_base_/models/cfine_clip_vit_b16.py',
    './_base_/datasets/cuhk_pedes.py',
    './_base_/schedules/cfine_50e.py',
    './_base_/default_runtime.py',
]
model = dict(head=dict(losses=dict(cmpc=dict(num_classes={{_base_.num_identities}}))))
train_dataloader = dict(batch_size=32, drop_last=True)
