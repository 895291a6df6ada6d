# Copyright (c) tpr_mm contributors. All rights reserved.
"""The typed features a retriever (backbone + neck) hands to its training head."""

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import torch


@dataclass
class RetrievalFeatures:
    """Paired image and text features of one training batch of N pairs.

    Every head's ``loss(feats, data_samples)`` takes this container; a field a
    head needs but the retriever did not fill raises a clear error
    (:meth:`require`). Row ``i`` of every image field and of every text field
    belongs to pair ``i``.

    Attributes:
        img_global (Tensor): (N, D) global image embeddings.
        text_global (Tensor): (N, D) global text embeddings of the paired captions.
        img_tokens (Tensor, optional): (N, L, C) image tokens (IRRA's fusion input).
        text_tokens (Tensor, optional): (N, T, C) caption tokens.
        img_levels (list[Tensor], optional): 1 + G (N, D) image features, the
            global one first, then one per group (CFine's multi-grained features).
        text_levels (list[Tensor], optional): The same for the captions.
        mlm_tokens (Tensor, optional): (N, T, C) tokens of the masked captions (IRRA).
        mlm_labels (Tensor, optional): (N, T) original ids at masked positions, 0 elsewhere.
        teacher_img (Tensor, optional): (N, D') frozen-teacher image features (LCR²S).
        teacher_text (Tensor, optional): (N, D') frozen-teacher text features.
        extras (dict): Method-specific neck outputs, documented by the head
            that reads them (e.g. CFine's ``img_mgf`` / ``text_mgf``, RDE's
            ``img_tse`` / ``text_tse``).
    """

    img_global: torch.Tensor
    text_global: torch.Tensor
    img_tokens: Optional[torch.Tensor] = None
    text_tokens: Optional[torch.Tensor] = None
    img_levels: Optional[List[torch.Tensor]] = None
    text_levels: Optional[List[torch.Tensor]] = None
    mlm_tokens: Optional[torch.Tensor] = None
    mlm_labels: Optional[torch.Tensor] = None
    teacher_img: Optional[torch.Tensor] = None
    teacher_text: Optional[torch.Tensor] = None
    extras: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.img_global.ndim != 2 or self.text_global.ndim != 2:
            raise ValueError(
                'RetrievalFeatures: img_global and text_global must be (N, D), got '
                f'{tuple(self.img_global.shape)} and {tuple(self.text_global.shape)}'
            )
        if self.img_global.shape[0] != self.text_global.shape[0]:
            raise ValueError(
                f'RetrievalFeatures: {self.img_global.shape[0]} images but '
                f'{self.text_global.shape[0]} captions; the pairs must align'
            )

    @property
    def num_pairs(self) -> int:
        """int: N, the number of pairs."""
        return self.img_global.shape[0]

    @property
    def device(self) -> torch.device:
        """torch.device: Device of the global embeddings."""
        return self.img_global.device

    def require(self, name: str, owner: str) -> Any:
        """The field (or ``extras`` entry) ``name``; raise naming ``owner`` when it is missing.

        Args:
            name (str): A field name or an ``extras`` key.
            owner (str): The head asking, for the message.
        """
        value = getattr(self, name) if hasattr(self, name) else self.extras.get(name)
        if value is None:
            raise ValueError(
                f'{owner} needs RetrievalFeatures.{name}, which the retriever did not fill; '
                'the retriever and head configs do not belong together'
            )
        return value
