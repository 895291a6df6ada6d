# CFine as published (shuanglinyan/CFine): CLIP ViT-B/16 image tower WITHOUT its projection
# (768-d tokens after ln_post) + BERT-base-uncased text tower (768-d, [CLS] pooled), ImageNet
# normalisation. Needs `pip install -e .[bert]` and a local BERT checkpoint directory
# (config.json, weights, vocab.txt) at data/pretrained/bert-base-uncased. CFine's blocks
# come from cfine.py; leaves set head.losses.cmpc.num_classes.
_base_ = ['./cfine.py']
model = dict(
    data_preprocessor=dict(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
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
    freeze_unused=True,  # the CLIP text tower and visual.proj never run
    # Reference behaviour: [PAD] may fill word slots.
    neck=dict(embed_dims=768, num_heads=12, mask_invalid_tokens=False),
    head=dict(losses=dict(cmpc=dict(in_channels=768))),
)
