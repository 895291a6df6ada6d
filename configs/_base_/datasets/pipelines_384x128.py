# The field's 384x128 pipelines (IRRA --img_aug): see docs/configs.md.
img_size = (384, 128)
context_length = 77
# Truncated JPEG/PNG files: 'warn' decodes them like the field's loaders and names and
# counts each one; 'error' refuses them (docs/datasets.md).
truncated_images = 'warn'
# MMCV's Resize takes (w, h); its pillow backend equals torchvision's Resize((h, w)).
train_pipeline = [
    dict(type='LoadPersonImage', truncated=truncated_images),
    dict(type='Resize', scale=img_size[::-1], backend='pillow'),
    dict(type='RandomHorizontalFlip', prob=0.5),
    dict(type='PadRandomCrop', padding=10),
    dict(type='RandomErasingImage', prob=0.5),
    dict(type='TokenizeCaption', context_length=context_length),
    dict(type='PackTextReIDInputs'),
]
test_pipeline = [
    dict(type='LoadPersonImage', truncated=truncated_images),
    dict(type='Resize', scale=img_size[::-1], backend='pillow'),
    dict(type='TokenizeCaption', context_length=context_length),
    dict(type='PackTextReIDInputs'),
]
