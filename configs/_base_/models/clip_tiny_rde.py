# RDE on the small from-scratch CLIP of the synthetic set (clip_tiny_backbone.py).
_base_ = ['./clip_vit_b16_rde.py', './clip_tiny_backbone.py']
model = dict(
    backbone=dict(_delete_=True, **_base_.clip_tiny_backbone),
    # Same 2x widening as 512 -> 1024; 0.3 of 24 patches / 62 positions -> 7 / 18 tokens.
    visual_tse=dict(embed_dim=256),
    text_tse=dict(embed_dim=256),
)
