# CUHK-PEDES (text-to-image person retrieval): layout in docs/datasets.md.
_base_ = ['./pipelines_384x128.py']
dataset_type = 'CUHKPEDES'
num_identities = 11003  # training identities: the size of identity classifiers
data_root = 'data/CUHK-PEDES'

train_dataloader = dict(
    batch_size=64,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='train',
        modality='pair',
        pipeline={{_base_.train_pipeline}},
    ),
)
val_dataloader = dict(
    batch_size=256,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='val',
        modality='text',
        pipeline={{_base_.test_pipeline}},
    ),
)
test_dataloader = dict(
    batch_size=256,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        modality='text',
        pipeline={{_base_.test_pipeline}},
    ),
)
val_evaluator = dict(type='TextImageRetrievalMetric')
test_evaluator = val_evaluator
val_cfg = dict(type='RetrievalValLoop')
test_cfg = dict(type='RetrievalTestLoop')
