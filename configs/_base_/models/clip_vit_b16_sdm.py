# CLIP ViT-B/16 (OpenAI weights) fine-tuned with SDM: the field's baseline recipe.
# Put the OpenAI TorchScript file at data/pretrained/ViT-B-16.pt (docs/clip_weights.md),
# or set backbone.pretrained to an open_clip tag such as 'openai'.
model = dict(
    type='TextImageRetriever',
    data_preprocessor=dict(type='TextReIDDataPreprocessor'),
    backbone=dict(
        type='OpenCLIPBackbone',
        model_name='ViT-B-16',
        pretrained='data/pretrained/ViT-B-16.pt',
        img_size=(384, 128),
        context_length=77,
        # cut token ids to the batch's longest caption (causal mask: same outputs, cheaper)
        trim_text_padding=True,
    ),
    head=dict(
        type='GlobalMatchingHead',
        losses=[dict(type='SDMLoss', temperature=0.02, loss_weight=1.0)],
    ),
)
