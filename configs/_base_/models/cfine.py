# CFine's blocks, once (shuanglinyan/CFine): MGF token selection/refinement neck and the CFine head
# (CFR + FCD + CMPM/CMPC + diversity + hardest-negative ranking). Backbone bases
# (cfine_clip_*.py) add the towers and set the widths (neck.embed_dims,
# head.losses.cmpc.in_channels); leaves set head.losses.cmpc.num_classes from their dataset base's
# num_identities. The losses are a dict so that a config changes (or, with None, drops) one of them.
model = dict(
    type='CFineRetriever',
    data_preprocessor=dict(type='TextReIDDataPreprocessor'),
    image_token_key='tokens',
    text_token_key='tokens',
    neck=dict(
        type='MGFNeck',
        img_k_ratio=0.1,
        text_k_ratio=0.2,
        num_groups=2,
        mlp_ratio=4.0,
    ),
    head=dict(
        type='CFineHead',
        cfr=dict(type='CFRHead', temperature=0.07),
        fcd=dict(type='FCDHead', temperature=0.01, k_word=3, k_patch=3),
        losses=dict(
            cmpm=dict(type='CMPMLoss', level_weights=(1.0, 1.0, 0.1)),
            cmpc=dict(type='CMPCLoss', num_classes=None, level_weights=(1.0, 1.0, 1.0)),
            diversity=dict(type='DiversityLoss', loss_weight=0.2),
            ranking=dict(type='HardestNegativeRankingLoss', margin=0.2, loss_weight=10.0),
        ),
    ),
)
