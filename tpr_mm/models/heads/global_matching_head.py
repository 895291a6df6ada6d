# Copyright (c) tpr_mm contributors. All rights reserved.
"""Head matching global image and text embeddings with a list of losses."""

from tpr_mm.registry import MODELS

from .base_head import BaseRetrievalHead


@MODELS.register_module()
class GlobalMatchingHead(BaseRetrievalHead):
    """Apply configured losses to the (image, text) global embeddings.

    Each loss gets ``img_feats`` / ``text_feats`` (the (N, D)
    ``RetrievalFeatures.img_global`` / ``text_global``) and, when it declares
    them, ``labels`` (the ``label_key`` field of each sample) and
    ``data_samples``. A loss that needs no labels (e.g. ITC) works on data
    without any label field. Which losses are used is decided by the config,
    never by strings inside ``forward``.

    Args:
        losses (list[dict | nn.Module]): Loss configs or modules.
        label_key (str): Data-sample field used as labels. Defaults to
            ``'pid'``; weakly supervised methods use pseudo labels instead.
        init_cfg (dict, optional): Initialisation config.

    Examples:
        >>> head = dict(type='GlobalMatchingHead',
        ...             losses=[dict(type='SDMLoss', loss_weight=1.0)])
    """
