# CFine on the small from-scratch CLIP of clip_tiny_backbone.py (synthetic set, demo, tests):
# same towers as the baseline, MGF on the projected 128-d tokens of both towers.
_base_ = ['./cfine.py', './clip_tiny_backbone.py']
model = dict(
    image_backbone={{_base_.clip_tiny_backbone}},
    text_backbone=None,
    neck=dict(embed_dims=128, num_heads=4),
    head=dict(losses=dict(cmpc=dict(in_channels=128))),
)
