# Ablation of configs/cpcl_synthetic.py without OPLM: outliers of one modality stay outliers
# (masked from the prototype terms, singleton positives in the instance SDM).
_base_ = ['../cpcl_synthetic.py']
pseudo_label_hook = dict(_base_.pseudo_label_hook, oplm=False)
custom_hooks = [*_base_.runtime_hooks, pseudo_label_hook]
