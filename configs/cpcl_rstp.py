# CPCL (weakly supervised, docs/methods/cpcl.md) on RSTPReid: CLIP ViT-B/16,
# IRRA's 60-epoch recipe, per-epoch clustering of image and text features, PMM + HCM + OPLM.
_base_ = [
    './_base_/models/clip_vit_b16_cpcl.py',
    './_base_/datasets/rstp_reid.py',
    './_base_/schedules/irra_60e.py',
    './_base_/cpcl_runtime.py',
]
# Weak supervision: the training pairs carry no identity (val/test keep theirs for evaluation).
train_dataloader = dict(dataset=dict(identity='drop'))
