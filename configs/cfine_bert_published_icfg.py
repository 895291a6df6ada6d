# CFine's published recipe (cfine_bert_published_cuhk.py: CLIP ViT-B/16 image tower without
# projection, BERT-base text tower, 224x224 pipelines, batch 32, Adam groups, warm-up/step
# schedule, seed 42) on ICFG-PEDES with its 3102 training identities. The official code
# (shuanglinyan/CFine) ships CUHK-PEDES settings only; all of them are kept. ICFG-PEDES has no
# validation split: no model selection, the last checkpoint is the result.
_base_ = ['./cfine_bert_published_cuhk.py']
# This leaf inherits the CUHK-PEDES leaf, not the dataset base: restate the identity count.
num_identities = 3102
model = dict(head=dict(losses=dict(cmpc=dict(num_classes=num_identities))))
dataset_type = 'ICFGPEDES'
data_root = 'data/ICFG-PEDES'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = None
val_evaluator = None
val_cfg = None
default_hooks = dict(checkpoint=dict(save_best=None))
