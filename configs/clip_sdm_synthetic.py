# Supervised baseline (CLIP + SDM) on the embedded synthetic dataset: `make demo`.
_base_ = [
    './_base_/models/clip_tiny_sdm.py',
    './_base_/datasets/synthetic_pedes.py',
    './_base_/schedules/synthetic_scratch.py',
    './_base_/default_runtime.py',
]
default_hooks = dict(logger=dict(interval=5))
