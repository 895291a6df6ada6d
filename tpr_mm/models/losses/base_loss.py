# Copyright (c) tpr_mm contributors. All rights reserved.
"""The loss contract: a weighted, named module that declares the inputs it needs."""

import inspect
from typing import ClassVar, FrozenSet

import torch.nn as nn


class BaseLoss(nn.Module):
    """Base of every tpr_mm loss module: a small weighted wrapper of a pure function.

    A loss declares in ``needs`` the names of the keyword inputs its
    ``forward`` takes. A head (:class:`~tpr_mm.models.heads.BaseRetrievalHead`)
    checks at build time that it provides all of them and calls the loss as
    ``loss(**{name: inputs[name] for name in loss.needs})``; it computes an
    input (e.g. looks the labels up, builds the teacher) only when a loss
    needs it. Names a head may provide:

    * ``img_feats``, ``text_feats``: (N, D) paired embeddings (every head);
    * ``labels``: (N,) identity labels from the data samples;
    * ``data_samples``: the batch's samples;
    * ``img_labels``, ``txt_labels``, ``img_protos``, ``txt_protos``: CPCL's
      pseudo labels and prototype memories;
    * ``img_groups``, ``text_groups``, ``scores``: CFine's group features and
      (N, N) cross-modal scores;
    * ``weights``: (N,) per-pair weights (RDE's clean/noisy division);
    * ``teacher_img``, ``teacher_text``: (N, D) frozen-teacher features (LCR²S).

    Args:
        loss_weight (float): Multiplier of the loss value.
        loss_name (str): Key of the loss dict. It must contain ``'loss'``:
            MMEngine optimises only the keys that do.

    Examples:
        >>> @MODELS.register_module()
        ... class MyLoss(BaseLoss):
        ...     needs = frozenset({'img_feats', 'text_feats', 'labels'})
        ...
        ...     def forward(self, img_feats, text_feats, labels):
        ...         return self.loss_weight * my_loss(img_feats, text_feats, labels)
    """

    needs: ClassVar[FrozenSet[str]] = frozenset({'img_feats', 'text_feats', 'labels'})

    def __init__(self, loss_weight: float = 1.0, loss_name: str = 'loss') -> None:
        super().__init__()
        if not isinstance(loss_name, str) or 'loss' not in loss_name:
            raise ValueError(
                f"{type(self).__name__}: loss_name must contain 'loss' (MMEngine sums only "
                f'those keys into the optimised loss), got {loss_name!r}'
            )
        self.loss_weight = loss_weight
        self.loss_name = loss_name

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if not isinstance(cls.needs, frozenset):
            raise TypeError(f'{cls.__name__}.needs must be a frozenset of input names')
        if cls.forward is nn.Module.forward:  # an abstract base: its subclasses define forward
            return
        params = inspect.signature(cls.forward).parameters
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
        missing = sorted(cls.needs - set(params))
        if missing:
            raise TypeError(
                f'{cls.__name__} declares needs {missing} that its forward() does not take'
            )

    def extra_repr(self) -> str:
        return f'loss_name={self.loss_name!r}, loss_weight={self.loss_weight}'
