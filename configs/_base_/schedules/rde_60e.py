# RDE's optimiser (QinYang79/RDE:2024-CVPR-RDE/solver/build.py, run_rde.sh): IRRA's ordered
# name rules (irra_60e.py: Adam eps 1e-3, base lr 1e-5, wd 4e-5, `bias` lr x2 without decay, ...)
# followed by RDE's: the TSE layers get lr 1e-3 (x100; their weight decay stays as set by the
# earlier rules, i.e. 0 on biases), still scaled by the per-epoch warm-up/cosine factor.
_base_ = ['./irra_60e.py']
optim_wrapper = dict(
    paramwise_cfg=dict(
        rules=dict(
            visual_tse=dict(lr_mult=100.0),
            text_tse=dict(lr_mult=100.0),
        )
    )
)
