# IRRA (CVPR 2023): CLIP ViT-B/16 + SDM + ID + implicit relation reasoning (masked-caption MLM
# through a 4-layer cross-modal encoder), the published `--loss_names sdm+mlm+id` run
# (docs/methods/irra.md). The cross-modal encoder and MLM head are used in training only.
# Weights: the OpenAI TorchScript file at data/pretrained/ViT-B-16.pt (docs/clip_weights.md).
# Leaf configs set the ID classifier's num_classes and add MaskCaptionTokens to the train pipeline.
embed_dims = 512
model = dict(
    type='IRRARetriever',
    data_preprocessor=dict(type='TextReIDDataPreprocessor'),
    backbone=dict(
        type='OpenCLIPBackbone',
        model_name='ViT-B-16',
        pretrained='data/pretrained/ViT-B-16.pt',
        img_size=(384, 128),
        context_length=77,
    ),
    head=dict(
        type='IRRAHead',
        losses=[
            dict(type='SDMLoss', temperature=0.02, loss_weight=1.0),
            dict(type='IDLoss', in_channels=embed_dims, num_classes=11003, loss_weight=1.0),
        ],
        # Parameter names: head.irr.cross_attn / head.irr.cross_modal_transformer ('cross' x5),
        # head.irr.ln_pre_t / ln_pre_i / ln_post (base lr, as in the reference).
        irr=dict(type='IRREncoder', embed_dims=embed_dims, num_layers=4, num_heads=8),
        mlm_head=dict(
            type='MLMPredictionHead',
            embed_dims=embed_dims,
            vocab_size=49408,
            encoder_layers=4,
        ),
        mlm_loss=dict(type='MLMLoss', loss_weight=1.0),
    ),
)
# IRRA's masking (15 % of words; 80/10/10 mask/random/keep). replace_text=True reproduces the
# published runs, whose SDM/ID losses see the masked caption; False trains them on clean captions.
mask_caption = dict(
    type='MaskCaptionTokens',
    select_prob=0.15,
    mask_prob=0.8,
    random_prob=0.1,
    mask_token_id=49405,
    replace_text=True,
)
