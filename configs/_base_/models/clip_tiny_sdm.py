# A small CLIP trained from scratch (clip_tiny_backbone.py): for the synthetic set, the demo and
# the tests.
_base_ = ['./clip_tiny_backbone.py']
model = dict(
    type='TextImageRetriever',
    data_preprocessor=dict(type='TextReIDDataPreprocessor'),
    backbone={{_base_.clip_tiny_backbone}},
    head=dict(
        type='GlobalMatchingHead',
        losses=[dict(type='SDMLoss', temperature=0.02, loss_weight=1.0)],
    ),
)
