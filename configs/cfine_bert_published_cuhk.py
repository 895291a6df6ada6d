# CFine exactly as published on CUHK-PEDES: CLIP ViT-B/16 image tower without projection, BERT-base
# text tower at 100 WordPiece tokens, 224x224 bicubic resize + horizontal flip, ImageNet
# normalisation, batch 32 (drop_last), Adam groups and the warm-up/step schedule of the paper's
# code, seed 42. One difference is forced by this toolbox: the best epoch is chosen on the val
# split, not on test. Needs `pip install -e .[bert]` and data/pretrained/bert-base-uncased.
_base_ = [
    './_base_/models/cfine_clip_vit_b16_bert.py',
    './_base_/datasets/cuhk_pedes.py',
    './_base_/schedules/cfine_50e.py',
    './_base_/default_runtime.py',
]
bert_dir = 'data/pretrained/bert-base-uncased'
img_size = (224, 224)
train_pipeline = [
    dict(type='LoadPersonImage'),
    dict(type='Resize', scale=img_size[::-1], backend='pillow', interpolation='bicubic'),
    dict(type='RandomHorizontalFlip', prob=0.5),
    dict(type='BertTokenizeCaption', vocab=bert_dir, context_length=100),
    dict(type='PackTextReIDInputs'),
]
test_pipeline = [
    dict(type='LoadPersonImage'),
    dict(type='Resize', scale=img_size[::-1], backend='pillow', interpolation='bicubic'),
    dict(type='BertTokenizeCaption', vocab=bert_dir, context_length=100),
    dict(type='PackTextReIDInputs'),
]
model = dict(
    text_backbone=dict(pretrained=bert_dir),
    head=dict(losses=dict(cmpc=dict(num_classes={{_base_.num_identities}}))),
)
train_dataloader = dict(batch_size=32, drop_last=True, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
test_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
randomness = dict(seed=42, deterministic=False)
