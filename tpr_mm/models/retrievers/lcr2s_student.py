# Copyright (c) tpr_mm contributors. All rights reserved.
"""LCR²S student: a single-input model distilled from the frozen "richer" teacher."""

import copy
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn

from tpr_mm.models.utils import build_module, check_unique_loss_names
from tpr_mm.registry import MODELS
from tpr_mm.structures import RetrievalFeatures

from .frozen_teacher import build_frozen_teacher
from .lcr2s_teacher import build_on_embed
from .text_image_retriever import TextImageRetriever


@MODELS.register_module()
class LCR2SStudent(TextImageRetriever):
    """Backbone + one reasoning layer per tower, trained against a frozen teacher.

    Each tower's global token (image [CLS], text [EOT]) attends once more to
    the tower's own tokens (:class:`TokenReasoningLayer`) to infer the
    multi-view information the teacher got from support sets. Training adds
    to the head's task losses those of ``distill_head`` (a
    :class:`~tpr_mm.models.heads.DistillationHead`), which see the student's
    features ``h`` and the teacher's enriched features ``e``
    (``LCR2STeacher.extract_enriched``) on the same batch and supports.

    The teacher lives outside the module tree: it is built lazily on the
    first ``'loss'`` call (or by ``FrozenTeacherHook`` before training) from
    ``teacher`` + ``teacher_checkpoint``, frozen
    (``requires_grad=False``) and kept in eval mode (also by :meth:`train`).
    It is therefore never in the optimizer nor in saved checkpoints, and
    inference/testing never builds it — a student checkpoint needs no
    teacher file. Inference cost is the baseline's two towers plus the
    reasoning layers.

    Args:
        backbone (dict | nn.Module): The student's own two-tower encoder.
        img_reasoning (dict | nn.Module): Image ``TokenReasoningLayer``;
            ``embed_dims`` defaults to the backbone's ``embed_dim``.
        text_reasoning (dict | nn.Module): Text ``TokenReasoningLayer``.
        head (dict | nn.Module, optional): Task losses on student features.
        teacher (dict, optional): Teacher model config (``LCR2STeacher``).
        teacher_checkpoint (str, optional): Teacher ``.pth``, its
            ``last_checkpoint`` file or its work dir (best checkpoint first);
            the latter two are resolved to a file by
            :class:`~tpr_mm.engine.hooks.FrozenTeacherHook` before training.
        distill_head (dict | nn.Module, optional): e.g. ``dict(type='DistillationHead',
            losses=[dict(type='FeatureDistillLoss'), dict(type='RelationDistillLoss')])``;
            None = no distillation (the teacher is then never built).
        data_preprocessor (dict, optional): Defaults to
            ``SupportSetDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(
        self,
        backbone: Union[dict, nn.Module],
        img_reasoning: Union[dict, nn.Module],
        text_reasoning: Union[dict, nn.Module],
        head: Optional[Union[dict, nn.Module]] = None,
        teacher: Optional[dict] = None,
        teacher_checkpoint: Optional[str] = None,
        distill_head: Optional[Union[dict, nn.Module]] = None,
        data_preprocessor: Optional[dict] = None,
        init_cfg: Optional[dict] = None,
    ) -> None:
        if data_preprocessor is None:
            data_preprocessor = {'type': 'SupportSetDataPreprocessor'}
        super().__init__(backbone, head, data_preprocessor, init_cfg)
        self.img_reasoning = build_on_embed(img_reasoning, self.backbone)
        self.text_reasoning = build_on_embed(text_reasoning, self.backbone)
        self.distill_head = build_module(distill_head)
        if self.distill_head is not None:
            if teacher is None:
                raise ValueError('LCR2SStudent: distill_head needs a teacher config')
            if self.head is not None:
                check_unique_loss_names(
                    self.head.loss_modules + self.distill_head.loss_modules, 'LCR2SStudent'
                )
        self.teacher_cfg = copy.deepcopy(teacher)
        self.teacher_checkpoint = teacher_checkpoint
        # A tuple hides the teacher from nn.Module: no state_dict, parameters(), .to(), .train().
        self._teacher: tuple = ()

    # -- the frozen teacher --------------------------------------------------
    @property
    def teacher(self) -> Optional[nn.Module]:
        """The frozen teacher, or None until the first distillation step."""
        return self._teacher[0] if self._teacher else None

    def build_teacher(self, checkpoint: Optional[str] = None) -> nn.Module:
        """Build (once) the frozen teacher on the student's device and return it.

        Args:
            checkpoint (str, optional): The teacher's checkpoint file, as
                :class:`~tpr_mm.engine.hooks.FrozenTeacherHook` resolves it
                from ``teacher_checkpoint``; defaults to ``teacher_checkpoint``.
        """
        device = next(self.parameters()).device
        if not self._teacher:
            path = checkpoint or self.teacher_checkpoint
            self._teacher = (build_frozen_teacher(self.teacher_cfg, path, device),)
        teacher = self._teacher[0]
        if next(teacher.parameters()).device != device:
            teacher.to(device)
        return teacher.eval()

    def train(self, mode: bool = True) -> 'LCR2SStudent':
        """Set the student's mode; the teacher always stays in eval mode."""
        super().train(mode)
        if self._teacher:
            self._teacher[0].eval()
        return self

    # -- single-input features -------------------------------------------------
    def extract_img_feat(self, img: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) -> (B, D): slot 0 ([CLS] / global) after one reasoning layer."""
        tokens = self.backbone.encode_image(img, return_tokens=True)['tokens']
        return self.img_reasoning(tokens)

    def extract_text_feat(self, text: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, D): global slot ([EOT] for CLIP) after one reasoning layer."""
        out = self.backbone.encode_text(text, return_tokens=True)
        # CLIP reads the [EOT] slot; towers with a fixed global slot report it as global_index.
        index = out['global_index'] if 'global_index' in out else out['eot_index']
        return self.text_reasoning(out['tokens'], index, out['mask'])

    # -- training --------------------------------------------------------------
    def loss(self, inputs: Dict[str, torch.Tensor], data_samples: Sequence) -> dict:
        self._check_pairs(inputs)
        h_v = self.extract_img_feat(inputs['img'])
        h_t = self.extract_text_feat(inputs['text'])
        losses = self.head.loss(RetrievalFeatures(h_v, h_t), data_samples)
        if self.distill_head is None:
            return losses
        teacher = self.build_teacher()
        with torch.no_grad():
            e_v, e_t = teacher.extract_enriched(inputs, data_samples)
        feats = RetrievalFeatures(h_v, h_t, teacher_img=e_v, teacher_text=e_t)
        losses.update(self.distill_head.loss(feats, data_samples))
        return losses

    def inference_modules(self) -> List[nn.Module]:
        """Modules that encode a single image or caption at test time."""
        return [self.backbone, self.img_reasoning, self.text_reasoning]
