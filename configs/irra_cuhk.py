# IRRA on CUHK-PEDES: the published recipe (sdm+mlm+id, batch 64, 60 epochs); docs/methods/irra.md.
_base_ = [
    './_base_/models/clip_vit_b16_irra.py',
    './_base_/datasets/cuhk_pedes.py',
    './_base_/schedules/irra_60e.py',
    './_base_/default_runtime.py',
]
model = dict(
    head=dict(
        losses=[
            dict(type='SDMLoss', temperature=0.02, loss_weight=1.0),
            dict(type='IDLoss', in_channels=512, num_classes=11003, loss_weight=1.0),
        ]
    )
)
# Masked captions for the MLM branch (and, as published, for SDM/ID: mask_caption.replace_text).
train_pipeline = _base_.train_pipeline[:-1] + [_base_.mask_caption, _base_.train_pipeline[-1]]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
