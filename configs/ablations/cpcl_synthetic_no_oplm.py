# Ablation of configs/cpcl_synthetic.py without OPLM: outliers of one modality stay outliers
# (masked from the prototype terms, singleton positives in the instance SDM).
_base_ = ['../cpcl_synthetic.py']
custom_hooks = [
    dict(type='FiniteLossHook'),
    dict(
        type='PseudoLabelHook',
        dataloader=dict(batch_size=128, num_workers=0),
        eval_pipeline=None,
        cluster_cfg=dict(k1=8, k2=4, eps=0.5, min_samples=4),
        oplm=False,
        oplm_gate=None,
        start_epoch=4,
    ),
]
