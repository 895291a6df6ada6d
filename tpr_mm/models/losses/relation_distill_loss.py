# Copyright (c) tpr_mm contributors. All rights reserved.
"""Relation distillation: match the teacher's in-batch image-text similarities (LCR²S)."""

import torch
import torch.nn.functional as F

from tpr_mm.registry import MODELS

from .base_loss import BaseLoss


def relation_matrix(img_feats: torch.Tensor, text_feats: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every image to every caption: (N, D), (M, D) -> (N, M)."""
    return F.normalize(img_feats, dim=-1) @ F.normalize(text_feats, dim=-1).t()


def relation_distill_loss(
    student_img: torch.Tensor,
    student_text: torch.Tensor,
    teacher_img: torch.Tensor,
    teacher_text: torch.Tensor,
) -> torch.Tensor:
    """Squared Frobenius distance of the two relation matrices over their size.

    ``‖R^S − R^T‖²_F / (N·M)`` with ``R = norm(img) · norm(text)ᵀ``; the
    teacher's matrix carries no gradient.

    Args:
        student_img (Tensor): (N, D) student image features.
        student_text (Tensor): (M, D) student text features.
        teacher_img (Tensor): (N, D') teacher image features.
        teacher_text (Tensor): (M, D') teacher text features.

    Returns:
        Tensor: scalar loss.
    """
    rel_s = relation_matrix(student_img, student_text)
    with torch.no_grad():
        rel_t = relation_matrix(teacher_img.detach(), teacher_text.detach()).to(rel_s.dtype)
    if rel_s.shape != rel_t.shape:
        raise ValueError(
            f'student relations {tuple(rel_s.shape)} and teacher relations '
            f'{tuple(rel_t.shape)} differ in shape'
        )
    return (rel_s - rel_t).pow(2).sum() / rel_s.numel()


@MODELS.register_module()
class RelationDistillLoss(BaseLoss):
    """Inter-modal relation distillation, ``loss_weight * relation_distill_loss``.

    Args:
        loss_weight (float): λ_r. Defaults to 1.0.
        loss_name (str): Key in the loss dict. Defaults to ``'loss_rel_kd'``.
    """

    needs = frozenset({'img_feats', 'text_feats', 'teacher_img', 'teacher_text'})

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss_rel_kd') -> None:
        super().__init__(loss_weight, loss_name)

    def forward(
        self,
        img_feats: torch.Tensor,
        text_feats: torch.Tensor,
        teacher_img: torch.Tensor,
        teacher_text: torch.Tensor,
    ) -> torch.Tensor:
        """Student ``img_feats`` / ``text_feats`` and teacher features, all (N, D)."""
        return self.loss_weight * relation_distill_loss(
            img_feats, text_feats, teacher_img, teacher_text
        )
