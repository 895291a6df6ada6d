# Runtime of RDE: the default runtime plus the per-epoch consensus clean/noisy division, and
# evaluation rows for BGE, TSE and the headline BGE+TSE (the plain t2i/* keys).
_base_ = ['./default_runtime.py']
# A leaf changes one field with division_hook = dict(_base_.division_hook, field=...) and then
# restates custom_hooks = [*_base_.runtime_hooks, division_hook].
division_hook = dict(
    type='ConsensusDivisionHook',
    # RDE's GaussianMixture settings for noise rates <= 0.4 on CUHK-PEDES / ICFG-PEDES; the
    # noise-50/80 and RSTPReid configs use rde_strong_gmm.
    gmm_cfg=dict(max_iter=10, tol=1e-2, reg_covar=5e-4),
    threshold=0.5,
    dataloader=None,  # the training loader itself (augmented, shuffled), as RDE
    # RDE's published numbers were trained with the model left in eval mode after the
    # division (its README on issue #8); only the TSE BatchNorm notices.
    train_in_eval_mode=True,
)
custom_hooks = [*_base_.runtime_hooks, division_hook]
rde_weak_gmm = dict(max_iter=10, tol=1e-2, reg_covar=5e-4)
rde_strong_gmm = dict(max_iter=100, tol=1e-4, reg_covar=1e-6)
rde_evaluator = dict(type='TextImageRetrievalMetric', named_features=('bge', 'tse'))
