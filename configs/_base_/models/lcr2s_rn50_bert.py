# LCR²S in its published architecture (docs/methods/lcr2s.md): ImageNet ResNet-50 with last stride 1
# (384x128 -> 2048x24x8), global max-pool + 6 horizontal stripes; frozen BERT-base word features +
# TIPCB's residual TextCNN (6 branches) -> 2048-d. Stage 1 (this model) is the teacher: each sample
# fused with its support set by multi-head attention, CMPM + CMPC on the enriched features.
# Put the ImageNet weights (torchvision resnet50-*.pth or an MMPretrain ResNet-50 checkpoint) at
# data/pretrained/resnet50_imagenet.pth and BERT at data/pretrained/bert-base-uncased.
# Leaf configs set the CMPC identity count; lcr2s_reasoning / lcr2s_distill_head serve students.
_base_ = ['../datasets/pipelines_tipcb_384x128.py']
imagenet_resnet50 = 'data/pretrained/resnet50_imagenet.pth'
lcr2s_backbone = dict(
    type='ResNetBertTextCNN',
    image_encoder=dict(
        type='PartPoolingResNet',
        resnet=dict(type='mmpretrain.ResNet', depth=50, strides=(1, 2, 2, 1), out_indices=(3,)),
        pretrained=imagenet_resnet50,
        num_parts=6,
        pool='max',
    ),
    bert=dict(type='HFBertBackbone', pretrained={{_base_.tipcb_bert_dir}}, pad_token_id=0),
    text_cnn=dict(
        type='ResidualTextCNN',
        in_channels=768,
        stem_channels=1024,
        out_channels=2048,
        width=512,
        num_branches=6,
        num_blocks=3,
        share_downsample=True,  # TIPCB's code
        mask_padding=False,  # TIPCB's code pools over [PAD] positions too
    ),
    freeze_bert=True,
    # TIPCB's train.py calls network.train() every epoch: the frozen BERT's dropout is on.
    frozen_bert_dropout=True,
)
# MHAF / reasoning layer [ASSUMED]: 8 heads of 256, FFN 2048 -> 4096 -> 2048, post-norm.
lcr2s_fusion = dict(
    type='MultiHeadAttentionalFusion', embed_dims=2048, num_heads=8, ffn_ratio=2.0, norm_first=False
)
lcr2s_reasoning = dict(
    type='TokenReasoningLayer', embed_dims=2048, num_heads=8, ffn_ratio=2.0, norm_first=False
)
lcr2s_distill_head = dict(
    type='DistillationHead',
    losses=[
        # MSE(h, e) per modality [2ND form]; 'sum_dims' = ||h - e||^2 (D times larger)
        dict(type='FeatureDistillLoss', reduction='mean', loss_weight=1.0),
        dict(type='RelationDistillLoss', loss_weight=1.0),  # |R_S - R_T|_F^2 / B^2 [2ND form]
    ],
)
model = dict(
    type='LCR2STeacher',
    data_preprocessor=dict(
        type='SupportSetDataPreprocessor',
        mean=(123.675, 116.28, 103.53),  # ImageNet, 0-255 scale
        std=(58.395, 57.12, 57.375),
    ),
    backbone=lcr2s_backbone,
    head=dict(
        type='GlobalMatchingHead',
        losses=[
            dict(type='CMPMLoss', level_weights=(1.0,)),
            dict(type='CMPCLoss', in_channels=2048, num_classes=None, level_weights=(1.0,)),
        ],
    ),
    img_fusion=lcr2s_fusion,
    text_fusion=lcr2s_fusion,
    support_source='dataset',
)
