# Shared settings of the evidence matrix (configs/evidence/*.py, docs/evidence.md): every method
# fine-tunes from the pretrained stand-in on the medium synthetic benchmark for the same schedule.
# A leaf layers this over its method's synthetic config and applies the variables below.
_base_ = ['./datasets/synthetic_medium_params.py']
# Written by tools/dataset_converters/make_pretrained_standin.py (never committed). CFine's CLIP
# sits under `image_backbone`, so it loads the copy whose keys carry that prefix.
standin_checkpoint = 'work_dirs/pretrained_standin/standin.pth'
standin_checkpoint_image_backbone = 'work_dirs/pretrained_standin/standin_image_backbone.pth'
evidence_train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=10, val_interval=2)
# The warm-up of synthetic_scratch.py (a 1-epoch LinearLR would never step), then cosine.
evidence_param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, end_factor=1.0, by_epoch=True, begin=0, end=2),
    dict(type='CosineAnnealingLR', T_max=8, eta_min=1e-5, by_epoch=True, begin=2, end=10),
]
