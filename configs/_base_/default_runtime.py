# Runtime shared by every tpr_mm config.
default_scope = 'tpr_mm'
runner_type = 'TPRRunner'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Model selection on the *validation* split (never test); see docs/faq.md.
    checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2, save_best='t2i/R1',
                    rule='greater', save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)
custom_hooks = [dict(type='FiniteLossHook')]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)
log_level = 'INFO'
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

load_from = None
resume = False
randomness = dict(seed=0, deterministic=False)
