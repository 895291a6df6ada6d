# The baseline (clip_vit_b16_sdm.py) on a small CLIP trained from scratch (clip_tiny_backbone.py):
# for the synthetic set, the demo and the tests.
_base_ = ['./clip_vit_b16_sdm.py', './clip_tiny_backbone.py']
model = dict(backbone=dict(_delete_=True, **_base_.clip_tiny_backbone))
