# IRRA's recipe (peers.md §4.4): Adam eps 1e-3, wd 4e-5 (0 on biases), base lr 1e-5,
# biases x2, new heads/classifiers x5; per-epoch linear warm-up (5 epochs from 0.1x)
# then cosine to 0 at epoch 60.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-5, betas=(0.9, 0.999), eps=1e-3, weight_decay=4e-5),
    paramwise_cfg=dict(
        bias_lr_mult=2.0,
        bias_decay_mult=0.0,
        custom_keys={
            'classifier': dict(lr_mult=5.0),
            'cross': dict(lr_mult=5.0),
        },
    ),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, end_factor=1.0, by_epoch=True, begin=0, end=5),
    dict(type='CosineAnnealingLR', T_max=55, eta_min=0.0, by_epoch=True, begin=5, end=60),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=60, val_interval=1)
auto_scale_lr = dict(base_batch_size=64, enable=False)
