# LCR²S stage 1, the "richer" teacher, on the synthetic set (CLIP adaptation, docs/methods/lcr2s.md).
# Same tiny CLIP, SDM loss and schedule as the baseline clip_sdm_synthetic.py; every training pair
# brings 2 other images and 3 other captions of its identity, fused by multi-head attention.
_base_ = ['./clip_sdm_synthetic.py']
model = dict(
    type='LCR2STeacher',
    data_preprocessor=dict(type='SupportSetDataPreprocessor'),
    img_fusion=dict(type='MultiHeadAttentionalFusion', num_heads=8, ffn_ratio=4.0),
    text_fusion=dict(type='MultiHeadAttentionalFusion', num_heads=8, ffn_ratio=4.0),
    support_source='dataset',
)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='SupportSetDataset',
        dataset={{_base_.train_dataloader.dataset}},
        num_img_support=2,
        num_text_support=3,
    )
)
