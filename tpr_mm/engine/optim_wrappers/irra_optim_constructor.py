# Copyright (c) tpr_mm contributors. All rights reserved.
"""IRRA's parameter groups: ordered substring rules on parameter names.

Source: anosorae/IRRA:solver/build.py (``build_optimizer``).
"""

import copy
from typing import Dict, List, Optional

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor

from tpr_mm.registry import OPTIM_WRAPPER_CONSTRUCTORS

#: IRRA's rules (anosorae/IRRA:solver/build.py ``build_optimizer`` with the
#: defaults of utils/options.py: ``lr_factor`` 5, ``bias_lr_factor`` 2,
#: ``weight_decay_bias`` 0), in the order IRRA applies them.
IRRA_RULES: Dict[str, dict] = {
    'cross': dict(lr_mult=5.0),
    'bias': dict(lr_mult=2.0, decay_mult=0.0),
    'classifier': dict(lr_mult=5.0),
    'mlm_head': dict(lr_mult=5.0),
}
_RULE_FIELDS = ('lr_mult', 'decay_mult')


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class IRRAOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """One parameter group per trainable parameter, set by name rules.

    Re-states IRRA's ``build_optimizer`` (anosorae/IRRA:solver/build.py).
    Every trainable parameter, in ``named_parameters`` order, starts at
    ``lr = base_lr`` and ``weight_decay = base_wd``; then each rule whose key
    is a **substring** of the parameter's name, in the order of
    ``paramwise_cfg['rules']``, sets ``lr = base_lr * lr_mult`` and/or
    ``weight_decay = base_wd * decay_mult`` (a later match overrides an
    earlier one; multipliers are relative to the base values, never
    multiplied together). With IRRA's rules (:data:`IRRA_RULES`, the
    default) that gives: names containing ``cross`` lr x5; names containing
    ``bias`` lr x2 and no decay; ``classifier`` / ``mlm_head`` lr x5 (their
    biases keep decay 0). Frozen parameters are left out, as IRRA does.

    Why not MMEngine's :class:`DefaultOptimWrapperConstructor`: its
    ``bias_lr_mult`` / ``bias_decay_mult`` only see parameters named exactly
    ``bias`` of non-norm modules (``in_proj_bias`` of attention and norm-layer
    biases keep 1x lr and full decay), and a ``custom_keys`` match replaces
    the bias rule (a classifier bias would get decay). IRRA matches any name
    *containing* ``bias``, norm layers included.

    ``rules`` is a dict so that a leaf config can add a rule by merging
    (``paramwise_cfg=dict(rules=dict(reasoning=dict(lr_mult=5.0)))`` appends
    it after the inherited ones; re-using a key keeps its position).

    Args:
        optim_wrapper_cfg (dict): ``optim_wrapper`` config with ``optimizer``
            (``lr`` and ``weight_decay`` are the base values).
        paramwise_cfg (dict, optional): ``dict(rules={substring: dict(
            lr_mult=..., decay_mult=...)})``. Without ``rules`` IRRA's are used.

    Raises:
        ValueError: other ``paramwise_cfg`` fields (MMEngine's ``custom_keys``,
            ``bias_lr_mult``... would be silently ignored), a rule that is not
            a dict of ``lr_mult``/``decay_mult``, or a missing base lr / base
            weight decay that a rule needs.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        paramwise_cfg = dict(paramwise_cfg or {})
        unknown = sorted(set(paramwise_cfg) - {'rules'})
        if unknown:
            raise ValueError(
                f'IRRAOptimWrapperConstructor: paramwise_cfg only takes `rules`, got {unknown}; '
                'write them as ordered rules, e.g. rules=dict(reasoning=dict(lr_mult=5.0))'
            )
        rules = paramwise_cfg.get('rules')
        rules = copy.deepcopy(IRRA_RULES if rules is None else dict(rules))
        for key, rule in rules.items():
            if not isinstance(rule, dict) or not rule or set(rule) - set(_RULE_FIELDS):
                raise ValueError(
                    f'IRRAOptimWrapperConstructor: rule {key!r} must be a non-empty dict with '
                    f'fields {_RULE_FIELDS}, got {rule!r}'
                )
        # The parent validates the wrapper config; rules are checked above.
        super().__init__(optim_wrapper_cfg, paramwise_cfg=None)
        self.paramwise_cfg = dict(rules=rules)
        self.rules = rules
        if self.base_lr is None:
            raise ValueError('IRRAOptimWrapperConstructor: optimizer.lr is required')
        if self.base_wd is None and any('decay_mult' in r for r in rules.values()):
            raise ValueError(
                'IRRAOptimWrapperConstructor: a rule sets decay_mult but optimizer.weight_decay '
                'is not given'
            )

    def param_setting(self, name: str) -> dict:
        """``dict(lr=..., weight_decay=...)`` of the parameter called ``name``."""
        setting = dict(lr=self.base_lr)
        if self.base_wd is not None:
            setting['weight_decay'] = self.base_wd
        for key, rule in self.rules.items():
            if key not in name:
                continue
            if 'lr_mult' in rule:
                setting['lr'] = self.base_lr * rule['lr_mult']
            if 'decay_mult' in rule:
                setting['weight_decay'] = self.base_wd * rule['decay_mult']
        return setting

    def add_params(self, params: List[dict], module: nn.Module, prefix: str = '', **kwargs) -> None:
        """Append one group per trainable parameter of ``module`` to ``params``.

        Args:
            params (list[dict]): Parameter groups, extended in place.
            module (nn.Module): The model.
            prefix (str): Name prefix of ``module``'s parameters.
        """
        for name, param in module.named_parameters(prefix=prefix):
            if param.requires_grad:
                params.append(dict(params=[param], **self.param_setting(name)))
