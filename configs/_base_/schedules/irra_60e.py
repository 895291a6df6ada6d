# IRRA's recipe (anosorae/IRRA: solver/build.py, solver/lr_scheduler.py, utils/options.py):
# Adam eps 1e-3, base lr 1e-5, weight decay 4e-5. Parameter groups by name substring, in IRRA's
# order: `cross` lr x5; `bias` lr x2 and no decay (any name containing it: attention
# in_proj_bias and norm biases too); `classifier` / `mlm_head` lr x5 (biases keep decay 0).
# Per-epoch lr factor of epoch e (1-based): 0.1 + 0.9 * (e - 1) / 5 for e <= 5, then
# 0.5 * (1 + cos(pi * (e - 6) / 55)) for e = 6..60 (1.0 at epoch 6, not 0 at epoch 60).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=1e-5, betas=(0.9, 0.999), eps=1e-3, weight_decay=4e-5),
    constructor='IRRAOptimWrapperConstructor',
    paramwise_cfg=dict(
        rules=dict(
            cross=dict(lr_mult=5.0),
            bias=dict(lr_mult=2.0, decay_mult=0.0),
            classifier=dict(lr_mult=5.0),
            mlm_head=dict(lr_mult=5.0),
        )
    ),
)
# MMEngine's LinearLR reaches end_factor at step end - begin - 1: end=6 gives 1.0 at epoch 6.
# The cosine starts at epoch index 5 holding the value LinearLR left (1.0) and decays from there.
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, end_factor=1.0, by_epoch=True, begin=0, end=6),
    dict(type='CosineAnnealingLR', T_max=55, eta_min=0.0, by_epoch=True, begin=5, end=60),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=60, val_interval=1)
auto_scale_lr = dict(base_batch_size=64, enable=False)
