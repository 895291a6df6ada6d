# Copyright (c) tpr_mm contributors. All rights reserved.
"""Feature distillation: student features regress the teacher's (LCR²S)."""

import torch
import torch.nn.functional as F

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss

REDUCTIONS = ('mean', 'sum_dims')


def feature_distill_loss(
    student: torch.Tensor,
    teacher: torch.Tensor,
    normalize: bool = False,
    reduction: str = 'mean',
) -> torch.Tensor:
    """Squared error between student and (detached) teacher features.

    The LCR²S paper calls the term an MSE; the second-hand formula writes
    ``‖h_i − e_i‖²₂`` averaged over the batch. The two differ by the factor
    D, so both are offered:

    * ``'mean'``: mean over batch and feature dimension (``F.mse_loss``),
      i.e. ``mean_i ‖h_i − e_i‖² / D``;
    * ``'sum_dims'``: ``mean_i ‖h_i − e_i‖²`` (sum over the dimension).

    Args:
        student (Tensor): (N, D) student features.
        teacher (Tensor): (N, D) teacher features; no gradient flows into them.
        normalize (bool): L2-normalise both first (match directions only).
            Defaults to False.
        reduction (str): ``'mean'`` or ``'sum_dims'``. Defaults to ``'mean'``.

    Returns:
        Tensor: scalar loss.
    """
    if student.shape != teacher.shape:
        raise ValueError(
            f'student features {tuple(student.shape)} and teacher features '
            f'{tuple(teacher.shape)} differ in shape'
        )
    if reduction not in REDUCTIONS:
        raise ValueError(f'reduction must be one of {REDUCTIONS}, got {reduction!r}')
    teacher = teacher.detach().to(student.dtype)
    if normalize:
        student, teacher = F.normalize(student, dim=-1), F.normalize(teacher, dim=-1)
    loss = F.mse_loss(student, teacher)
    return loss * student.shape[-1] if reduction == 'sum_dims' else loss


@MODELS.register_module()
class FeatureDistillLoss(BaseLoss):
    """Intra-modal feature distillation summed over the two modalities.

    ``loss_weight * (MSE(h_v, e_v) + MSE(h_t, e_t))`` with the frozen
    teacher's enriched features ``e``.

    Args:
        normalize (bool): See :func:`feature_distill_loss`. Defaults to False.
        reduction (str): See :func:`feature_distill_loss`. Defaults to
            ``'mean'`` (the paper's "MSE"); ``'sum_dims'`` is the
            second-hand formula, D times larger.
        loss_weight (float): λ_f. Defaults to 1.0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_feat_kd'``.
    """

    needs = frozenset({'img_feats', 'text_feats', 'teacher_img', 'teacher_text'})

    def __init__(
        self,
        normalize: bool = False,
        reduction: str = 'mean',
        loss_weight: float = 1.0,
        loss_name: str = 'loss_feat_kd',
    ) -> None:
        super().__init__(loss_weight, loss_name)
        if reduction not in REDUCTIONS:
            raise ValueError(
                f'FeatureDistillLoss: reduction must be one of {REDUCTIONS}, got {reduction!r}'
            )
        self.normalize = normalize
        self.reduction = reduction

    def forward(
        self,
        img_feats: torch.Tensor,
        text_feats: torch.Tensor,
        teacher_img: torch.Tensor,
        teacher_text: torch.Tensor,
    ) -> torch.Tensor:
        """Student ``img_feats`` / ``text_feats`` and teacher features, all (N, D)."""
        loss = feature_distill_loss(
            img_feats, teacher_img, self.normalize, self.reduction
        ) + feature_distill_loss(text_feats, teacher_text, self.normalize, self.reduction)
        return self.loss_weight * loss
