# The small CLIP trained from scratch (synthetic set, demo, tests), defined once for every method's
# tiny base (clip_tiny_sdm.py, clip_tiny_rde.py, cfine_clip_tiny.py).
# img_size/context_length must match the dataset pipeline (64x24 images, 64 tokens).
clip_tiny_backbone = dict(
    type='OpenCLIPBackbone',
    pretrained=None,
    img_size=(64, 24),
    context_length=64,
    # cut token ids to the batch's longest caption (causal mask: same outputs, cheaper)
    trim_text_padding=True,
    model_cfg=dict(
        embed_dim=128,
        vision_cfg=dict(
            image_size=(64, 24), patch_size=8, width=128, layers=3, head_width=32, mlp_ratio=2.0
        ),
        text_cfg=dict(
            context_length=64, vocab_size=49408, width=128, heads=4, layers=3, mlp_ratio=2.0
        ),
    ),
)
