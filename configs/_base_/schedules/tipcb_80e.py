# TIPCB's released schedule (OrangeYHChen/TIPCB: train_config.py, function.py, train.py), the recipe
# of the published LCR²S backbone family; LCR²S's own schedule is unknown [ASSUMED]. Adam (0.9,
# 0.999, eps 1e-8) with ONE lr for every trainable parameter (BERT is frozen), no weight decay
# (TIPCB declares wd 4e-5 but never passes it to Adam), batch 64, 80 epochs, stepped per epoch.
# lr of epoch e (0-indexed):  3e-3 * min(1, (e + 1) / 10) * (0.1 if e >= 50 else 1)
#   = 3e-4, 6e-4, ..., 3e-3 in epochs 1-10 (1-indexed), 3e-3 in 11-50, 3e-4 in 51-80.
# MMEngine's LinearLR reaches end_factor at step end - begin - 1 = 9, so its factors 0.1 + 0.1 e
# are exactly TIPCB's gradual_warmup (checked for all 80 epochs in
# tests/test_configs/test_lcr2s_rn50_bert_configs.py).
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='Adam', lr=3e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, end_factor=1.0, by_epoch=True, begin=0, end=10),
    dict(type='MultiStepLR', milestones=[50], gamma=0.1, by_epoch=True, begin=0, end=80),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=80, val_interval=1)
auto_scale_lr = dict(base_batch_size=64, enable=False)
