# RDE on CUHK-PEDES with 0.5 of the training captions shuffled among pairs (noisy correspondence).
# RDE's index file is read when present (data/noiseindex/, docs/methods/rde.md); otherwise
# the same permutation is generated (noisy_seed=1 reproduces RDE's files).
_base_ = ['./rde_cuhk.py']
train_dataloader = dict(
    dataset=dict(noisy_rate=0.5, noisy_file='data/noiseindex/CUHK-PEDES_0.5.npy', noisy_seed=1)
)
# RDE fits the stronger mixture above noise 0.4 (processor.py).
division_hook = dict(_base_.division_hook, gmm_cfg=_base_.rde_strong_gmm)
custom_hooks = [*_base_.runtime_hooks, division_hook]
