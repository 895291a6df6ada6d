# CFine on CLIP ViT-B/16 (OpenAI weights) for BOTH towers: a deviation from the published model,
# whose text tower is BERT-base (see docs/methods/cfine.md and cfine_bert_published_cuhk.py).
# One CLIP serves image and text; MGF works on the projected 512-d tokens of both towers
# (the shared refinement block needs one width), so CFR/FCD start in CLIP's joint space.
# CFine's blocks come from cfine.py; leaves set head.losses.cmpc.num_classes.
_base_ = ['./cfine.py']
model = dict(
    image_backbone=dict(
        type='OpenCLIPBackbone',
        model_name='ViT-B-16',
        pretrained='data/pretrained/ViT-B-16.pt',
        img_size=(384, 128),
        context_length=77,
    ),
    text_backbone=None,  # the CLIP above encodes the captions too
    neck=dict(embed_dims=512, num_heads=8),
    head=dict(losses=dict(cmpc=dict(in_channels=512))),
)
