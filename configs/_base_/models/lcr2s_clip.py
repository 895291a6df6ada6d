# LCR²S's CLIP-adaptation blocks (docs/methods/lcr2s.md), once for every dataset: the teacher's
# per-modality multi-head attentional fusion of the support sets (512-d, 8 heads), the student's
# token reasoning layers and its distillation head, and the support-set wrapper of the training
# set. Teacher leaves list this file after their baseline (clip_sdm_<dataset>.py) and merge
# `lcr2s_clip_teacher` into its model; student leaves build theirs from `lcr2s_clip_student`.
lcr2s_clip_teacher = dict(
    type='LCR2STeacher',
    data_preprocessor=dict(type='SupportSetDataPreprocessor'),
    img_fusion=dict(type='MultiHeadAttentionalFusion', embed_dims=512, num_heads=8, ffn_ratio=4.0),
    text_fusion=dict(type='MultiHeadAttentionalFusion', embed_dims=512, num_heads=8, ffn_ratio=4.0),
    support_source='dataset',
)
lcr2s_clip_student = dict(
    type='LCR2SStudent',
    data_preprocessor=dict(type='SupportSetDataPreprocessor'),
    img_reasoning=dict(type='TokenReasoningLayer', embed_dims=512, num_heads=8, ffn_ratio=4.0),
    text_reasoning=dict(type='TokenReasoningLayer', embed_dims=512, num_heads=8, ffn_ratio=4.0),
    distill_head=dict(
        type='DistillationHead',
        losses=[
            dict(type='FeatureDistillLoss', reduction='mean', loss_weight=1.0),  # MSE(h, e)
            dict(type='RelationDistillLoss', loss_weight=1.0),
        ],
    ),
)
# Each training pair brings K=2 other images and K'=3 other captions of its identity.
lcr2s_support_set = dict(type='SupportSetDataset', num_img_support=2, num_text_support=3)
