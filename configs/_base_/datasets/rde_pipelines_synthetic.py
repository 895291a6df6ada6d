# RDE's caption augmentation on the synthetic set's training pipeline (64x24, 64 tokens).
rde_train_pipeline = [
    dict(type='LoadPersonImage'),
    dict(type='Resize', scale=(24, 64), backend='pillow'),
    dict(type='PadRandomCrop', padding=3),
    dict(type='RandomErasingImage', prob=0.3),
    dict(type='TokenizeCaption', context_length=64),
    dict(type='CaptionTokenAugment', prob=0.2, mask_ratio=0.6, replace_ratio=0.2),
    dict(type='PackTextReIDInputs'),
]
