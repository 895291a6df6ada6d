# Runtime shared by every tpr_mm config.
default_scope = 'tpr_mm'
runner_type = 'TPRRunner'

# Every hook of a run is listed here or in custom_hooks (MMEngine would add its runtime_info hook
# by itself; it is listed so that the config shows them all).
default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    # TPRLoggerHook = MMEngine's LoggerHook; the test-metric JSON is written by rank 0 only.
    logger=dict(type='TPRLoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Model selection on the *validation* split (never test); see docs/faq.md.
    # TPRCheckpointHook = MMEngine's CheckpointHook, crash-safe (docs/reliability.md).
    checkpoint=dict(
        type='TPRCheckpointHook',
        interval=1,
        max_keep_ckpts=2,
        save_best='t2i/R1',
        rule='greater',
        save_last=True,
    ),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # Saves and restores the Python/NumPy/PyTorch RNG states so --resume continues exactly.
    rng_state=dict(type='RNGStateHook'),
    # Counts and reports skipped or damaged data items (docs/reliability.md).
    data_issues=dict(type='DataIssueReportHook'),
)
# Hooks every run adds to MMEngine's; a config that adds its own extends this list
# (custom_hooks = [*_base_.runtime_hooks, my_hook]) instead of restating it.
runtime_hooks = [dict(type='FiniteLossHook')]
custom_hooks = runtime_hooks

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
# Loading a checkpoint whose parameter shapes differ from the model's is an error;
# True loads the fitting tensors and keeps the others at their initial values.
allow_shape_mismatch = False
# Testing (tools/test.py) or resuming from a checkpoint that lacks some of the model's
# tensors is an error; True loads what is there (fine-tuning via load_from only warns).
allow_missing_keys = False
randomness = dict(seed=0, deterministic=False)
