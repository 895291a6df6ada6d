# Ablation of configs/cpcl_synthetic.py without PMM: no prototype memories, so no prototype terms
# (intra- and cross-modal); training uses the pseudo-label SDM alone (clustering + OPLM kept).
_base_ = ['../cpcl_synthetic.py']
model = dict(
    head=dict(
        memory=None,
        losses=[
            dict(type='PseudoLabelSDMLoss', label_modality='img', temperature=0.02, loss_weight=1.0)
        ],
    )
)
