# LCR²S stage 1, the teacher, in its published architecture on CUHK-PEDES (docs/methods/lcr2s.md):
# ImageNet ResNet-50 + frozen BERT-base/TextCNN (2048-d), support sets of 2 images / 3 captions fused
# by MHAF, CMPM + CMPC over 11003 identities, TIPCB's 80-epoch schedule and pipelines.
_base_ = [
    './_base_/models/lcr2s_rn50_bert.py',
    './_base_/datasets/cuhk_pedes.py',
    './_base_/schedules/tipcb_80e.py',
    './_base_/default_runtime.py',
]
model = dict(
    head=dict(
        losses=[
            dict(type='CMPMLoss', level_weights=(1.0,)),
            dict(
                type='CMPCLoss',
                in_channels=2048,
                num_classes={{_base_.num_identities}},
                level_weights=(1.0,),
            ),
        ]
    )
)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='SupportSetDataset',
        num_img_support=2,
        num_text_support=3,
        # The dataset base's training set with TIPCB's pipeline.
        dataset=dict(_base_.train_dataloader.dataset, pipeline=_base_.tipcb_train_pipeline),
    )
)
val_dataloader = dict(dataset=dict(pipeline={{_base_.tipcb_test_pipeline}}))
test_dataloader = dict(dataset=dict(pipeline={{_base_.tipcb_test_pipeline}}))
