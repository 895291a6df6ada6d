# Ablation of configs/cpcl_synthetic.py without HCM's cross-modal prototype term (L_vt + L_tv);
# the instance SDM and the intra-modal prototype terms stay.
_base_ = ['../cpcl_synthetic.py']
model = dict(
    head=dict(
        losses=[
            dict(
                type='PseudoLabelSDMLoss', label_modality='img', temperature=0.02, loss_weight=1.0
            ),
            dict(type='IntraModalPrototypeLoss', temperature=0.05, loss_weight=1.0),
        ]
    )
)
