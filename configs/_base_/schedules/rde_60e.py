# RDE's optimiser (QinYang79/RDE:2024-CVPR-RDE/solver/build.py, run_rde.sh): IRRA's recipe
# (Adam eps 1e-3, base lr 1e-5, wd 4e-5, biases x2 without decay, per-epoch warm-up + cosine, 60
# epochs) with the TSE layers at a fixed lr 1e-3 (x100); their biases keep no weight decay.
# A custom key bypasses bias_decay_mult, so the TSE biases are named (the longest key wins).
_base_ = ['./irra_60e.py']
optim_wrapper = dict(
    paramwise_cfg=dict(
        custom_keys={
            'visual_tse': dict(lr_mult=100.0),
            'text_tse': dict(lr_mult=100.0),
            'visual_tse.fc.bias': dict(lr_mult=100.0, decay_mult=0.0),
            'visual_tse.mlp.layers.0.bias': dict(lr_mult=100.0, decay_mult=0.0),
            'visual_tse.mlp.layers.1.bias': dict(lr_mult=100.0, decay_mult=0.0),
            'visual_tse.mlp.bns.0.bias': dict(lr_mult=100.0, decay_mult=0.0),
            'text_tse.linear.bias': dict(lr_mult=100.0, decay_mult=0.0),
            'text_tse.mlp.layers.0.bias': dict(lr_mult=100.0, decay_mult=0.0),
            'text_tse.mlp.layers.1.bias': dict(lr_mult=100.0, decay_mult=0.0),
            'text_tse.mlp.bns.0.bias': dict(lr_mult=100.0, decay_mult=0.0),
        }
    )
)
