# Copyright (c) tpr_mm contributors. All rights reserved.
"""Build sub-modules from configs, and the loss lists that heads own."""

from typing import Iterable, List, Mapping, Optional, Sequence, Union

import torch.nn as nn

from tpr_mm.registry import MODELS

ModuleCfg = Union[dict, nn.Module]
LossCfgs = Union[Sequence[Optional[ModuleCfg]], Mapping[str, Optional[ModuleCfg]]]


def build_module(cfg: Optional[ModuleCfg], default_args: Optional[dict] = None):
    """Build ``cfg`` through the ``MODELS`` registry; pass modules (and None) through.

    Args:
        cfg (dict | nn.Module | None): A config with ``type``, or a built module.
        default_args (dict, optional): Arguments used when ``cfg`` does not set them
            (e.g. ``in_channels`` taken from a backbone).

    Returns:
        nn.Module | None: The module, or None when ``cfg`` is None.
    """
    if cfg is None or isinstance(cfg, nn.Module):
        return cfg
    if not isinstance(cfg, dict):
        raise TypeError(f'expected a config dict or an nn.Module, got {type(cfg).__name__}')
    return MODELS.build(cfg, default_args=default_args)


def loss_name_of(module: nn.Module) -> str:
    """The key a loss module writes into the loss dict."""
    return getattr(module, 'loss_name', type(module).__name__)


def check_unique_loss_names(modules: Iterable[nn.Module], owner: str) -> List[str]:
    """Raise when two loss modules would write the same key of the loss dict.

    Args:
        modules (Iterable[nn.Module]): Loss modules (a ``loss_name`` attribute each).
        owner (str): Head name for the message, e.g. ``'CFineHead'``.

    Returns:
        list[str]: The names, in order.
    """
    names = [loss_name_of(m) for m in modules]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(
            f'{owner}: loss names must be unique, but {dup} appear more than once in {names}; '
            "give one of them another loss_name (e.g. loss_name='loss_sdm_2')"
        )
    return names


def build_losses(cfgs: LossCfgs, owner: str) -> Union[nn.ModuleList, nn.ModuleDict]:
    """Build a head's losses once, check their type and that their names are unique.

    A list gives an ``nn.ModuleList``. A mapping (slot name -> config) gives an
    ``nn.ModuleDict`` in the mapping's order; its keys exist only so that a
    config can change one loss (``losses=dict(cmpc=dict(num_classes=...))``) or
    switch it off (``None``) without restating the others.

    Args:
        cfgs (list | dict): Loss configs or modules; None entries are dropped.
        owner (str): Head name for the messages.

    Returns:
        nn.ModuleList | nn.ModuleDict: The :class:`BaseLoss` modules.
    """
    from tpr_mm.models.losses.base_loss import BaseLoss  # losses import utils, not the reverse

    if isinstance(cfgs, Mapping):
        built = {k: build_module(v) for k, v in cfgs.items() if v is not None}
        modules = nn.ModuleDict(built)
    elif isinstance(cfgs, (list, tuple)):
        modules = nn.ModuleList([build_module(c) for c in cfgs if c is not None])
    else:
        raise TypeError(f'{owner}: losses must be a list or a dict, got {type(cfgs).__name__}')
    items = list(modules.values()) if isinstance(modules, nn.ModuleDict) else list(modules)
    if not items:
        raise ValueError(f'{owner} needs at least one loss')
    for m in items:
        if not isinstance(m, BaseLoss):
            raise TypeError(
                f'{owner}: {type(m).__name__} is not a BaseLoss; derive it from '
                'tpr_mm.models.losses.BaseLoss and declare the inputs it needs'
            )
    check_unique_loss_names(items, owner)
    return modules
