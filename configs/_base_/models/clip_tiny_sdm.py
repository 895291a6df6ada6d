# A small CLIP trained from scratch: for the synthetic set, the demo and the tests.
# img_size/context_length must match the dataset pipeline (64x24 images, 64 tokens).
model = dict(
    type='TextImageRetriever',
    data_preprocessor=dict(type='TextReIDDataPreprocessor'),
    backbone=dict(
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
    ),
    head=dict(
        type='GlobalMatchingHead',
        losses=[dict(type='SDMLoss', temperature=0.02, loss_weight=1.0)],
    ),
)
