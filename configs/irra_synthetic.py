# IRRA (SDM + ID + MLM through the cross-modal encoder) on the embedded synthetic set, with the
# baseline's small from-scratch CLIP and schedule (configs/clip_sdm_synthetic.py); CPU-sized.
_base_ = [
    './_base_/models/clip_tiny_sdm.py',
    './_base_/datasets/synthetic_pedes.py',
    './_base_/schedules/synthetic_scratch.py',
    './_base_/default_runtime.py',
]
embed_dims = 128
model = dict(
    type='IRRARetriever',
    head=dict(
        _delete_=True,
        type='IRRAHead',
        losses=[
            dict(type='SDMLoss', temperature=0.02, loss_weight=1.0),
            dict(type='IDLoss', in_channels=embed_dims, num_classes=120, loss_weight=1.0),
        ],
        irr=dict(type='IRREncoder', embed_dims=embed_dims, num_layers=4, num_heads=2),
        mlm_head=dict(
            type='MLMPredictionHead', embed_dims=embed_dims, vocab_size=49408, encoder_layers=4
        ),
        mlm_loss=dict(type='MLMLoss', loss_weight=1.0),
    ),
)
# IRRA's masking, published behaviour (SDM/ID also see the masked caption).
mask_caption = dict(
    type='MaskCaptionTokens',
    select_prob=0.15,
    mask_prob=0.8,
    random_prob=0.1,
    mask_token_id=49405,
    replace_text=True,
)
train_pipeline = _base_.train_pipeline[:-1] + [mask_caption, _base_.train_pipeline[-1]]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
default_hooks = dict(logger=dict(interval=5))
