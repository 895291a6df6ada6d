# Pretrained stand-in for CLIP (docs/evidence.md): image-text contrastive (ITC) pretraining of the
# small synthetic CLIP on a corpus whose identities appear in no benchmark split (neither the demo
# set nor the medium benchmark); identity labels are dropped. Run through
# tools/dataset_converters/make_pretrained_standin.py, which caches the result.
_base_ = [
    './_base_/models/clip_tiny_sdm.py',
    './_base_/datasets/synthetic_pedes.py',
    './_base_/datasets/synthetic_medium_params.py',
    './_base_/schedules/synthetic_scratch.py',
    './_base_/default_runtime.py',
]
demo_set = {{_base_.synthetic}}
medium_set = {{_base_.medium_dataset}}
data_root = 'data/synthetic_pretrain'
# 1,000 corpus identities (2 images x 2 captions: 4,000 pairs); its val split (validation only,
# model selection by R1) uses the corpus' own identities, never a benchmark's.
corpus = dict(
    num_train_ids=1000,
    num_val_ids=30,
    num_test_ids=1,
    images_per_id=2,
    captions_per_image=2,
    image_size=(128, 48),
    seed=7,
    generator_options=dict(exclude_identities_of=[demo_set, medium_set]),
)
model = dict(head=dict(losses=[dict(type='ITCLoss', temperature=0.02, loss_weight=1.0)]))
train_dataloader = dict(dataset=dict(data_root=data_root, identity='drop', **corpus))
val_dataloader = dict(dataset=dict(data_root=data_root, **corpus))
test_dataloader = dict(dataset=dict(data_root=data_root, **corpus))
max_epochs = 10
train_cfg = dict(max_epochs=max_epochs, val_interval=2)
# The warm-up of synthetic_scratch.py (2 epochs from 0.1x), then cosine to the end. A 1-epoch
# LinearLR would never step (MMEngine steps it only inside [begin, end)) and leave the whole run
# at 0.1x the learning rate.
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, end_factor=1.0, by_epoch=True, begin=0, end=2),
    dict(
        type='CosineAnnealingLR',
        T_max=max_epochs - 2,
        eta_min=1e-5,
        by_epoch=True,
        begin=2,
        end=max_epochs,
    ),
]
default_hooks = dict(logger=dict(interval=20))
