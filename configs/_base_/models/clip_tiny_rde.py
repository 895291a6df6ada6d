# RDE on the small from-scratch CLIP of the synthetic set (configs/_base_/models/clip_tiny_sdm.py).
_base_ = ['./clip_vit_b16_rde.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='OpenCLIPBackbone',
        pretrained=None,
        img_size=(64, 24),
        context_length=64,
        model_cfg=dict(
            embed_dim=128,
            vision_cfg=dict(
                image_size=(64, 24), patch_size=8, width=128, layers=3, head_width=32, mlp_ratio=2.0
            ),
            text_cfg=dict(
                context_length=64, vocab_size=49408, width=128, heads=4, layers=3, mlp_ratio=2.0
            ),
        ),
    ),
    # Same 2x widening as 512 -> 1024; 0.3 of 24 patches / 62 positions -> 7 / 18 tokens.
    visual_tse=dict(embed_dim=256),
    text_tse=dict(embed_dim=256),
)
