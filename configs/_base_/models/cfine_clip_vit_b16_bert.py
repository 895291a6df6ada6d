# CFine as published (shuanglinyan/CFine): CLIP ViT-B/16 image tower WITHOUT its projection
# (768-d tokens after ln_post) + BERT-base-uncased text tower (768-d, [CLS] pooled), ImageNet
# normalisation. Needs `pip install -e .[bert]` and a local BERT checkpoint directory
# (config.json, weights, vocab.txt) at data/pretrained/bert-base-uncased. Leaf configs set
# head.cmpc.num_classes.
model = dict(
    type='CFineRetriever',
    data_preprocessor=dict(
        type='TextReIDDataPreprocessor', mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)
    ),
    image_backbone=dict(
        type='OpenCLIPBackbone',
        model_name='ViT-B-16',
        pretrained='data/pretrained/ViT-B-16.pt',
        img_size=(224, 224),
        context_length=77,
    ),
    text_backbone=dict(
        type='HFBertBackbone', pretrained='data/pretrained/bert-base-uncased', pad_token_id=0
    ),
    image_token_key='tokens_unprojected',
    text_token_key='tokens',
    freeze_unused=True,  # the CLIP text tower and visual.proj never run
    neck=dict(
        type='MGFNeck',
        embed_dims=768,
        num_heads=12,
        img_k_ratio=0.1,
        text_k_ratio=0.2,
        num_groups=2,
        mlp_ratio=4.0,
        mask_invalid_tokens=False,
    ),  # reference behaviour: [PAD] may fill word slots
    head=dict(
        type='CFineHead',
        cfr=dict(type='CFRHead', temperature=0.07),
        fcd=dict(type='FCDHead', temperature=0.01, k_word=3, k_patch=3),
        cmpm=dict(type='CMPMLoss', level_weights=(1.0, 1.0, 0.1)),
        cmpc=dict(
            type='CMPCLoss', in_channels=768, num_classes=None, level_weights=(1.0, 1.0, 1.0)
        ),
        diversity=dict(type='DiversityLoss', loss_weight=0.2),
        ranking=dict(type='HardestNegativeRankingLoss', margin=0.2, loss_weight=10.0),
    ),
)
