# CFine's published schedule (shuanglinyan/CFine train.py / config.py): Adam (eps 1e-8);
# new modules (MGF block, BNNecks, CMPC classifier) lr 1e-4 without weight decay; image tower
# lr 1e-5 with weight decay 4e-5; text tower lr 1e-5 without weight decay. Per-epoch linear
# warm-up from 0.01x reaching 1.0 at epoch 11, x0.1 from epochs 21, 26 and 36 (1-indexed); 50
# epochs.
# With one CLIP for both towers (text_backbone=None) the whole CLIP is 'image_backbone'.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=4e-5),
    paramwise_cfg=dict(
        custom_keys={
            'image_backbone': dict(lr_mult=0.1, decay_mult=1.0),
            'text_backbone': dict(lr_mult=0.1, decay_mult=0.0),
            'neck': dict(lr_mult=1.0, decay_mult=0.0),
            'head': dict(lr_mult=1.0, decay_mult=0.0),
        },
    ),
)
# WarmupMultiStepLR((20, 25, 35), gamma 0.1, warmup_factor 0.01, warmup_iters 10), stepped once per
# epoch: factor of epoch e (1-based) = (0.01 + 0.99 * min(e - 1, 10) / 10) * 0.1 ** #{m <= e - 1}.
# MMEngine's LinearLR reaches end_factor at step end - begin - 1, hence end=11 (1.0 at epoch 11).
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, end_factor=1.0, by_epoch=True, begin=0, end=11),
    dict(type='MultiStepLR', milestones=[20, 25, 35], gamma=0.1, by_epoch=True, begin=0, end=50),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=50, val_interval=1)
auto_scale_lr = dict(base_batch_size=32, enable=False)
