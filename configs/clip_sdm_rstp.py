# Supervised baseline: CLIP ViT-B/16 + SDM + ID loss, IRRA's 60-epoch recipe.
_base_ = [
    './_base_/models/clip_vit_b16_sdm.py',
    './_base_/datasets/rstp_reid.py',
    './_base_/schedules/irra_60e.py',
    './_base_/default_runtime.py',
]
model = dict(
    head=dict(
        losses=[
            dict(type='SDMLoss', temperature=0.02, loss_weight=1.0),
            dict(
                type='IDLoss',
                in_channels=512,
                num_classes={{_base_.num_identities}},
                loss_weight=1.0,
            ),
        ]
    )
)
