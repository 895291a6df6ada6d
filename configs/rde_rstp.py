# RDE (CVPR 2024) on RSTPReid: CLIP ViT-B/16, BGE + TSE embeddings, TAL, consensus division,
# 60 epochs, batch 64, --img_aug --txt_aug (QinYang79/RDE:2024-CVPR-RDE/run_rde.sh).
_base_ = [
    './_base_/models/clip_vit_b16_rde.py',
    './_base_/datasets/rstp_reid.py',
    './_base_/datasets/rde_pipelines_384x128.py',
    './_base_/schedules/rde_60e.py',
    './_base_/rde_runtime.py',
]
# noisy_rate=0.0: clean captions, but every pair carries is_clean for the division's log.
train_dataloader = dict(dataset=dict(pipeline={{_base_.rde_train_pipeline}}, noisy_rate=0.0))
val_evaluator = {{_base_.rde_evaluator}}
test_evaluator = val_evaluator
# RDE fits the stronger mixture on RSTPReid at every noise rate (processor.py).
division_hook = dict(_base_.division_hook, gmm_cfg=_base_.rde_strong_gmm)
custom_hooks = [*_base_.runtime_hooks, division_hook]
