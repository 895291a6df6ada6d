# configs/irra_synthetic.py with the clean-caption switch: SDM/ID see the original caption and
# only the MLM branch sees the masked copy (IRRA's public code trains SDM/ID on the masked one).
_base_ = ['../irra_synthetic.py']
train_pipeline = [
    dict(t, replace_text=False) if t['type'] == 'MaskCaptionTokens' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
