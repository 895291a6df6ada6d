# CPCL head (as _base_/models/clip_vit_b16_cpcl.py) on the small from-scratch CLIP of the
# synthetic set.
_base_ = ['./clip_tiny_sdm.py']
model = dict(
    head=dict(
        _delete_=True,
        type='CPCLHead',
        memory=dict(type='PrototypeMemory', momentum=0.2),
        losses=[
            dict(
                type='PseudoLabelSDMLoss', label_modality='img', temperature=0.02, loss_weight=1.0
            ),
            dict(type='IntraModalPrototypeLoss', temperature=0.05, loss_weight=1.0),
            dict(type='CrossModalPrototypeLoss', temperature=0.05, loss_weight=1.0),
        ],
    )
)
