# LCR²S stage 1, the "richer" teacher, on RSTPReid: CLIP adaptation, not the
# published ResNet-50 + BERT/TextCNN model (docs/methods/lcr2s.md). CLIP ViT-B/16, SDM + ID loss,
# IRRA's 60-epoch recipe; each pair brings K=2 other images and K'=3 other captions of its identity,
# fused per modality by multi-head attention (512-d, 8 heads).
_base_ = ['./clip_sdm_rstp.py']
model = dict(
    type='LCR2STeacher',
    data_preprocessor=dict(type='SupportSetDataPreprocessor'),
    img_fusion=dict(type='MultiHeadAttentionalFusion', embed_dims=512, num_heads=8, ffn_ratio=4.0),
    text_fusion=dict(type='MultiHeadAttentionalFusion', embed_dims=512, num_heads=8, ffn_ratio=4.0),
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
# New modules learn 5x faster, like IRRA's new heads.
optim_wrapper = dict(paramwise_cfg=dict(rules=dict(fusion=dict(lr_mult=5.0))))
