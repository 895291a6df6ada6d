# CPCL's model (clip_vit_b16_cpcl.py: the CPCL head, written once) on the small from-scratch CLIP
# of the synthetic set (clip_tiny_backbone.py).
_base_ = ['./clip_vit_b16_cpcl.py', './clip_tiny_backbone.py']
model = dict(backbone=dict(_delete_=True, **_base_.clip_tiny_backbone))
