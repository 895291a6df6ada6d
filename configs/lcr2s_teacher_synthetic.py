# LCR²S stage 1, the "richer" teacher, on the synthetic set (CLIP adaptation, docs/methods/lcr2s.md).
# Same tiny CLIP, SDM loss and schedule as the baseline clip_sdm_synthetic.py; every training pair
# brings 2 other images and 3 other captions of its identity, fused by multi-head attention.
_base_ = ['./clip_sdm_synthetic.py', './_base_/models/lcr2s_clip.py']
model = dict(
    _base_.lcr2s_clip_teacher,  # type, preprocessor, support source
    # The fusion blocks take their width from the tiny CLIP (no embed_dims).
    img_fusion=dict(type='MultiHeadAttentionalFusion', num_heads=8, ffn_ratio=4.0),
    text_fusion=dict(type='MultiHeadAttentionalFusion', num_heads=8, ffn_ratio=4.0),
)
train_dataloader = dict(
    dataset=dict(
        _delete_=True, dataset={{_base_.train_dataloader.dataset}}, **_base_.lcr2s_support_set
    )
)
