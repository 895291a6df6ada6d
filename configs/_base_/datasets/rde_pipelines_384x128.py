# RDE's training pipeline (--img_aug --txt_aug): the 384x128 image augmentation of
# pipelines_384x128.py plus token-level caption augmentation (mask / replace / delete).
rde_train_pipeline = [
    dict(type='LoadPersonImage', truncated='warn'),  # as pipelines_384x128.py
    dict(type='Resize', scale=(128, 384), backend='pillow'),
    dict(type='RandomHorizontalFlip', prob=0.5),
    dict(type='PadRandomCrop', padding=10),
    dict(type='RandomErasingImage', prob=0.5),
    dict(type='TokenizeCaption', context_length=77),
    dict(type='CaptionTokenAugment', prob=0.2, mask_ratio=0.6, replace_ratio=0.2),
    dict(type='PackTextReIDInputs'),
]
