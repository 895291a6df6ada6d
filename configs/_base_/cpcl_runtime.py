# Runtime of CPCL: the default runtime plus the per-epoch pseudo-labelling hook.
_base_ = ['./default_runtime.py']
# A leaf changes one field with pseudo_label_hook = dict(_base_.pseudo_label_hook, field=...)
# and then restates custom_hooks = [*_base_.runtime_hooks, pseudo_label_hook].
pseudo_label_hook = dict(
    type='PseudoLabelHook',
    # Clustering pass over the train split, no augmentation (eval_pipeline=None reuses the
    # test pipeline), unshuffled DefaultSampler.
    dataloader=dict(batch_size=256, num_workers=4),
    eval_pipeline=None,
    # k-reciprocal Jaccard + DBSCAN per pair (cluster-contrast/ICPG/CLPC; docs/methods/cpcl.md).
    cluster_cfg=dict(k1=30, k2=6, eps=0.6, min_samples=4),
    oplm=True,  # OPLM [ASSUMED, after CLPC]
    oplm_gate=None,  # optional reliability gate delta (e.g. 0.5) [ASSUMED knob]
    # 'paired': both modalities (CPCL's description); 'clpc': CLPC's code, images only.
    oplm_rule='paired',
    start_epoch=0,  # cluster from the first epoch (pretrained CLIP)
)
custom_hooks = [*_base_.runtime_hooks, pseudo_label_hook]
