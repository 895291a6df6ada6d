# The demo baseline plus the example alignment loss (docs/extending.md).
# Run from the repository root with this project on PYTHONPATH:
#   PYTHONPATH=projects/example_custom_loss:. python tools/train.py \
#       projects/example_custom_loss/configs/custom_loss_synthetic.py
_base_ = ['../../../configs/clip_sdm_synthetic.py']
custom_imports = dict(imports=['example_custom_loss'], allow_failed_imports=False)
# One line: the inherited loss list (SDM + ITC) plus the new loss.
model = dict(
    head=dict(losses=[*_base_.model.head.losses, dict(type='PairAlignmentLoss', loss_weight=0.5)])
)
