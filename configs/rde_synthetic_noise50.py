# RDE on the synthetic set with half of the training captions shuffled among pairs (seeded as
# RDE's generator); the division's precision/recall per epoch is in the log and division.json.
_base_ = ['./rde_synthetic.py']
train_dataloader = dict(dataset=dict(noisy_rate=0.5, noisy_seed=1))
# RDE fits the stronger mixture above noise 0.4 (processor.py).
division_hook = dict(_base_.division_hook, gmm_cfg=_base_.rde_strong_gmm)
custom_hooks = [*_base_.runtime_hooks, division_hook]
