# The embedded synthetic dataset (written by the prepare step of tools/train.py and tools/test.py,
# or by tools/dataset_converters/make_synthetic.py; docs/datasets.md).
dataset_type = 'SyntheticPEDES'
data_root = 'data/synthetic'
synthetic = dict(
    num_train_ids=120,
    num_val_ids=30,
    num_test_ids=40,
    images_per_id=4,
    captions_per_image=2,
    image_size=(128, 48),
    seed=0,
)
num_identities = synthetic['num_train_ids']  # the size of identity classifiers
img_size = (64, 24)
context_length = 64

# MMCV's Resize takes (w, h); its pillow backend equals torchvision's Resize((h, w)).
train_pipeline = [
    dict(type='LoadPersonImage'),
    dict(type='Resize', scale=img_size[::-1], backend='pillow'),
    dict(type='PadRandomCrop', padding=3),
    dict(type='RandomErasingImage', prob=0.3),
    dict(type='TokenizeCaption', context_length=context_length),
    dict(type='PackTextReIDInputs'),
]
test_pipeline = [
    dict(type='LoadPersonImage'),
    dict(type='Resize', scale=img_size[::-1], backend='pillow'),
    dict(type='TokenizeCaption', context_length=context_length),
    dict(type='PackTextReIDInputs'),
]
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        modality='pair',
        pipeline=train_pipeline,
        **synthetic,
    ),
)
val_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        modality='text',
        pipeline=test_pipeline,
        **synthetic,
    ),
)
test_dataloader = dict(
    batch_size=128,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        modality='text',
        pipeline=test_pipeline,
        **synthetic,
    ),
)
val_evaluator = dict(type='TextImageRetrievalMetric')
test_evaluator = val_evaluator
val_cfg = dict(type='RetrievalValLoop')
test_cfg = dict(type='RetrievalTestLoop')
