# RDE (Qin et al., CVPR 2024) on CLIP ViT-B/16 (OpenAI weights): global (BGE) and token-selection
# (TSE) embeddings, TAL on each weighted by the consensus clean/noisy division (docs/methods/rde.md).
# Put the OpenAI TorchScript file at data/pretrained/ViT-B-16.pt (docs/clip_weights.md).
model = dict(
    type='RDERetriever',
    data_preprocessor=dict(type='TextReIDDataPreprocessor'),
    backbone=dict(
        type='OpenCLIPBackbone',
        model_name='ViT-B-16',
        pretrained='data/pretrained/ViT-B-16.pt',
        img_size=(384, 128),
        context_length=77,
    ),
    # in_channels defaults to the backbone's embed_dim (512); --select_ratio 0.3 -> 57 patches /
    # 22 words.
    visual_tse=dict(type='VisualTokenSelectionEmbedding', embed_dim=1024, ratio=0.3),
    text_tse=dict(type='TextTokenSelectionEmbedding', embed_dim=1024, ratio=0.3),
    head=dict(
        type='RDEHead',
        bge_loss=dict(type='TALLoss', tau=0.015, margin=0.1, reduction='sum', loss_name='loss_bge'),
        tse_loss=dict(type='TALLoss', tau=0.015, margin=0.1, reduction='sum', loss_name='loss_tse'),
    ),
    bge_weight=0.5,  # retrieval score = (cos_BGE + cos_TSE) / 2, RDE's "BGE+TSE" row
)
