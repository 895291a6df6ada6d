# Copyright (c) tpr_mm contributors. All rights reserved.
"""The head contract: a head owns its losses and turns features into a loss dict."""

from typing import Any, ClassVar, Dict, FrozenSet, Iterable, List, Optional, Sequence

import torch
from mmengine.model import BaseModule

from tpr_mm.models.utils import build_losses, labels_from_samples
from tpr_mm.models.utils.builder import LossCfgs
from tpr_mm.structures import RetrievalFeatures


class BaseRetrievalHead(BaseModule):
    """Base of the training heads: ``losses=[...]`` in, ``{loss_name: scalar}`` out.

    The head builds its losses once (:func:`~tpr_mm.models.utils.build_losses`:
    every entry a :class:`~tpr_mm.models.losses.BaseLoss`, names unique) and
    checks at build time that it provides every input each loss declares in
    ``needs``. :meth:`loss` gathers the inputs (:meth:`loss_inputs`, computing
    the costly ones, such as the labels, only when a loss needs them) and calls
    each loss with exactly what it declared (:meth:`call_losses`).

    A subclass states what it can provide in ``provides`` (or overrides
    :meth:`available_inputs` when that depends on its configuration) and
    extends :meth:`loss_inputs`.

    Args:
        losses (list | dict): Loss configs or modules. A dict (slot name ->
            config, None switches a loss off) lets configs change one loss
            without restating the list.
        label_key (str): Data-sample field holding the labels. Defaults to ``'pid'``.
        init_cfg (dict, optional): Initialisation config.
    """

    provides: ClassVar[FrozenSet[str]] = frozenset(
        {'img_feats', 'text_feats', 'labels', 'data_samples'}
    )

    def __init__(
        self, losses: LossCfgs, label_key: str = 'pid', init_cfg: Optional[dict] = None
    ) -> None:
        super().__init__(init_cfg=init_cfg)
        self.losses = build_losses(losses, type(self).__name__)
        self.label_key = label_key
        self.check_needs(self.loss_modules)

    @property
    def loss_modules(self) -> List[torch.nn.Module]:
        """list[BaseLoss]: The losses in call order."""
        if isinstance(self.losses, torch.nn.ModuleDict):
            return list(self.losses.values())
        return list(self.losses)

    @property
    def needs(self) -> FrozenSet[str]:
        """frozenset[str]: Every input some loss of this head needs."""
        return frozenset().union(*(m.needs for m in self.loss_modules))

    def available_inputs(self) -> FrozenSet[str]:
        """Inputs this head can provide as configured (``provides`` by default)."""
        return self.provides

    def check_needs(self, modules: Iterable[torch.nn.Module], available=None) -> None:
        """Raise when a loss declares an input this head cannot provide."""
        available = self.available_inputs() if available is None else available
        for m in modules:
            missing = sorted(m.needs - available)
            if missing:
                raise ValueError(
                    f'{type(self).__name__}: {type(m).__name__} ({m.loss_name!r}) needs '
                    f'{missing}, which this head does not provide (it provides '
                    f'{sorted(available)})'
                )

    def labels(self, data_samples: Sequence, device: torch.device) -> torch.Tensor:
        """(N,) labels read from each sample's ``label_key`` field."""
        return labels_from_samples(data_samples, self.label_key, device)

    def loss_inputs(self, feats: RetrievalFeatures, data_samples: Sequence) -> Dict[str, Any]:
        """The named inputs the losses may need (see :class:`BaseLoss`)."""
        inputs = {
            'img_feats': feats.img_global,
            'text_feats': feats.text_global,
            'data_samples': data_samples,
        }
        if 'labels' in self.needs:
            inputs['labels'] = self.labels(data_samples, feats.device)
        return inputs

    def call_losses(
        self, modules: Iterable[torch.nn.Module], inputs: Dict[str, Any]
    ) -> Dict[str, torch.Tensor]:
        """Call each loss with the inputs it declared; key the results by ``loss_name``."""
        out = {}
        for m in modules:
            out[m.loss_name] = m(**{name: inputs[name] for name in m.needs})
        return out

    def loss(self, feats: RetrievalFeatures, data_samples: Sequence) -> Dict[str, torch.Tensor]:
        """Compute every loss.

        Args:
            feats (RetrievalFeatures): The batch's paired features (N pairs).
            data_samples (Sequence[TextReIDDataSample]): The N samples.

        Returns:
            dict[str, Tensor]: One scalar per loss, keyed by its ``loss_name``.
        """
        return self.call_losses(self.loss_modules, self.loss_inputs(feats, data_samples))
