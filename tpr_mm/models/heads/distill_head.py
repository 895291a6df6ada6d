# Copyright (c) tpr_mm contributors. All rights reserved.
"""Head of feature-level distillation from a frozen teacher (LCR²S's student)."""

from typing import Any, Dict, Sequence

from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures

from .base_head import BaseRetrievalHead


@MODELS.register_module()
class DistillationHead(BaseRetrievalHead):
    """Distillation losses between a student's and a frozen teacher's features.

    Each loss gets what it declares of ``img_feats`` / ``text_feats`` (the
    student's (N, D) ``RetrievalFeatures.img_global`` / ``text_global``),
    ``teacher_img`` / ``teacher_text`` (the teacher's (N, D') features on the
    same batch, ``RetrievalFeatures.teacher_img`` / ``teacher_text``),
    ``labels`` and ``data_samples``. The retriever computes the teacher's
    features only when this head exists, so a student without it never builds
    the teacher.

    Args:
        losses (list[dict | nn.Module]): e.g. ``FeatureDistillLoss`` and
            ``RelationDistillLoss``.
        label_key (str): Data-sample field used as labels, for losses that need them.
        init_cfg (dict, optional): Initialisation config.

    Examples:
        >>> head = dict(type='DistillationHead',
        ...             losses=[dict(type='FeatureDistillLoss'),
        ...                     dict(type='RelationDistillLoss')])
    """

    provides = frozenset(
        {'img_feats', 'text_feats', 'teacher_img', 'teacher_text', 'labels', 'data_samples'}
    )

    def loss_inputs(self, feats: RetrievalFeatures, data_samples: Sequence) -> Dict[str, Any]:
        """The student's features, the teacher's, and labels when a loss needs them."""
        inputs = super().loss_inputs(feats, data_samples)
        inputs['teacher_img'] = feats.require('teacher_img', 'DistillationHead')
        inputs['teacher_text'] = feats.require('teacher_text', 'DistillationHead')
        return inputs
