# CPCL (docs/methods/cpcl.md): CLIP ViT-B/16 with the CPCL head. Pseudo labels come from
# PseudoLabelHook (see _base_/cpcl_runtime.py); the head never reads identity labels.
_base_ = ['./clip_vit_b16_sdm.py']
model = dict(
    head=dict(
        _delete_=True,
        type='CPCLHead',
        # PMM: one prototype bank per modality, rebuilt every epoch; momentum mu = 0.2 [ASSUMED,
        # cluster-contrast default].
        memory=dict(type='PrototypeMemory', momentum=0.2),
        losses=[
            # HCM instance term: SDM, positives = same image pseudo label or own pair (tau 0.02, IRRA).
            dict(
                type='PseudoLabelSDMLoss', label_modality='img', temperature=0.02, loss_weight=1.0
            ),
            # HCM prototype terms, tau_m = 0.05, lambda_p = lambda_c = 1 [ASSUMED].
            dict(type='IntraModalPrototypeLoss', temperature=0.05, loss_weight=1.0),
            dict(type='CrossModalPrototypeLoss', temperature=0.05, loss_weight=1.0),
        ],
    )
)
