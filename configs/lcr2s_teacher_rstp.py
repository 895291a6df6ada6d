# LCR²S stage 1, the "richer" teacher, on RSTPReid: CLIP adaptation, not the
# published ResNet-50 + BERT/TextCNN model (docs/methods/lcr2s.md). CLIP ViT-B/16, SDM + ID loss,
# IRRA's 60-epoch recipe; each pair brings K=2 other images and K'=3 other captions of its identity,
# fused per modality by multi-head attention (512-d, 8 heads): _base_/models/lcr2s_clip.py.
_base_ = ['./clip_sdm_rstp.py', './_base_/models/lcr2s_clip.py']
model = {{_base_.lcr2s_clip_teacher}}
train_dataloader = dict(
    dataset=dict(
        _delete_=True, dataset={{_base_.train_dataloader.dataset}}, **_base_.lcr2s_support_set
    )
)
# New modules learn 5x faster, like IRRA's new heads.
optim_wrapper = dict(paramwise_cfg=dict(rules=dict(fusion=dict(lr_mult=5.0))))
