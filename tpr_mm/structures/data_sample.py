# Copyright (c) tpr_mm contributors. All rights reserved.
"""The data sample that travels between datasets, models and metrics."""

from mmengine.structures import BaseDataElement


class TextReIDDataSample(BaseDataElement):
    """Annotations and predictions of one training pair, query or gallery item.

    Meta fields (set by the datasets and ``PackTextReIDInputs``):
        - ``pid`` (int): person identity. Training splits remap it to
          ``0..num_ids-1``; evaluation splits keep the raw annotation id.
        - ``image_id`` (int): index of the image within its split.
        - ``sample_idx`` (int): index of the item within its dataset view.
        - ``img_path`` (str, optional): image file.
        - ``caption`` (str, optional): raw caption text.
        - ``modality`` (str): ``'pair'``, ``'image'`` or ``'text'``.

    Data fields (set by models in ``predict`` mode):
        - ``img_feat`` (Tensor): shape (D,), global image embedding.
        - ``text_feat`` (Tensor): shape (D,), global text embedding.

    Fields are plain attributes, e.g. ``sample.pid`` or
    ``sample.get('pseudo_label')``.
    """
