# CFine on the small from-scratch CLIP of clip_tiny_sdm.py (synthetic set, demo, tests):
# same towers as the baseline, MGF on the projected 128-d tokens of both towers.
# img_size/context_length must match the dataset pipeline (64x24 images, 64 tokens).
model = dict(
    type='CFineRetriever',
    data_preprocessor=dict(type='TextReIDDataPreprocessor'),
    image_backbone=dict(
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
    text_backbone=None,
    image_token_key='tokens',
    text_token_key='tokens',
    neck=dict(
        type='MGFNeck',
        embed_dims=128,
        num_heads=4,
        img_k_ratio=0.1,
        text_k_ratio=0.2,
        num_groups=2,
        mlp_ratio=4.0,
    ),
    head=dict(
        type='CFineHead',
        cfr=dict(type='CFRHead', temperature=0.07),
        fcd=dict(type='FCDHead', temperature=0.01, k_word=3, k_patch=3),
        cmpm=dict(type='CMPMLoss', level_weights=(1.0, 1.0, 0.1)),
        cmpc=dict(
            type='CMPCLoss', in_channels=128, num_classes=None, level_weights=(1.0, 1.0, 1.0)
        ),
        diversity=dict(type='DiversityLoss', loss_weight=0.2),
        ranking=dict(type='HardestNegativeRankingLoss', margin=0.2, loss_weight=10.0),
    ),
)
