# CFine on CLIP ViT-B/16 (OpenAI weights) for BOTH towers: a deviation from the published model,
# whose text tower is BERT-base (see docs/methods/cfine.md and cfine_bert_published_cuhk.py).
# One CLIP serves image and text; MGF works on the projected 512-d tokens of both towers
# (the shared refinement block needs one width), so CFR/FCD start in CLIP's joint space.
# Leaf configs set head.cmpc.num_classes to the number of training identities.
model = dict(
    type='CFineRetriever',
    data_preprocessor=dict(type='TextReIDDataPreprocessor'),
    image_backbone=dict(
        type='OpenCLIPBackbone',
        model_name='ViT-B-16',
        pretrained='data/pretrained/ViT-B-16.pt',
        img_size=(384, 128),
        context_length=77,
    ),
    text_backbone=None,  # the CLIP above encodes the captions too
    image_token_key='tokens',
    text_token_key='tokens',
    neck=dict(
        type='MGFNeck',
        embed_dims=512,
        num_heads=8,
        img_k_ratio=0.1,
        text_k_ratio=0.2,
        num_groups=2,
        mlp_ratio=4.0,
    ),
    head=dict(
        type='CFineHead',
        cfr=dict(type='CFRHead', temperature=0.07),
        fcd=dict(type='FCDHead', temperature=0.01, k_word=3, k_patch=3),
        cmpm=dict(type='CMPMLoss', level_weights=(1.0, 1.0, 0.1)),
        cmpc=dict(
            type='CMPCLoss', in_channels=512, num_classes=None, level_weights=(1.0, 1.0, 1.0)
        ),
        diversity=dict(type='DiversityLoss', loss_weight=0.2),
        ranking=dict(type='HardestNegativeRankingLoss', margin=0.2, loss_weight=10.0),
    ),
)
