# Weakly supervised baseline on CUHK-PEDES: CLIP ViT-B/16 fine-tuned with ITC on image-caption
# pairs only (ICPG's baseline, docs/model_zoo.md), IRRA's 60-epoch recipe.
_base_ = [
    './_base_/models/clip_vit_b16_sdm.py',
    './_base_/datasets/cuhk_pedes.py',
    './_base_/schedules/irra_60e.py',
    './_base_/default_runtime.py',
]
model = dict(head=dict(losses=[dict(type='ITCLoss', temperature=0.02, loss_weight=1.0)]))
train_dataloader = dict(dataset=dict(identity='drop'))
