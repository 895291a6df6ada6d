# Copyright (c) tpr_mm contributors. All rights reserved.
"""The one MMEngine-internal behaviour tpr_mm relies on, gated by version.

Behaviour (MMEngine 0.10.x, ``mmengine/registry/registry.py``): when a build
starts on a *parent* registry -- MMEngine's roots, as the runner,
``build_optim_wrapper`` and MMCV's layer builders do -- the parent's public
``switch_scope_and_registry`` finds the registry of the default scope with the
private, recursive ``Registry._search_child(scope)``, hands it to the build,
and the build calls ``get(type)`` on it and fails on ``None`` with a bare
``KeyError`` (the optimizer constructor even with a ``TypeError``). No public
hook tells a registry that a lookup belongs to a build, so
:class:`BuildLookupHook` overrides ``_search_child`` to hand builds a
:class:`BuildLookup` (same registry, but an unknown type raises the detailed
error). Outside the checked versions the hook is off: builds started on
MMEngine's roots then give MMEngine's own message; builds on our registries
keep the detailed one (they go through the public
``switch_scope_and_registry`` override in :mod:`tpr_mm.registry`).
"""

from typing import Any, Callable, Optional

import mmengine
from mmengine.utils import digit_version

#: MMEngine versions whose ``switch_scope_and_registry`` was read for the hook.
CHECKED_MMENGINE = ('0.10.0', '0.11.0')

SEARCH_CHILD_HOOK = (
    digit_version(CHECKED_MMENGINE[0])
    <= digit_version(mmengine.__version__)
    < digit_version(CHECKED_MMENGINE[1])
)


class BuildLookup:
    """A registry as a build sees it: ``get`` raises instead of returning None.

    Every other attribute is the registry's own.

    Args:
        registry: The registry to look types up in.
        error (Callable[[str], Exception]): Makes the error for an unknown key.
    """

    def __init__(self, registry: Any, error: Callable[[str], Exception]) -> None:
        self.registry = registry
        self._error = error

    def get(self, key: str) -> Any:
        obj = self.registry.get(key)
        if obj is None and isinstance(key, str):
            raise self._error(key)
        return obj

    def __getattr__(self, name: str) -> Any:
        return getattr(self.registry, name)

    def __repr__(self) -> str:
        return f'BuildLookup({self.registry!r})'


class BuildLookupHook:
    """Mixin for a :class:`~mmengine.registry.Registry` subclass (see module doc).

    The subclass provides ``build_lookup()`` returning its :class:`BuildLookup`.
    """

    if SEARCH_CHILD_HOOK:

        def _search_child(self, scope: str) -> Optional[Any]:
            found = super()._search_child(scope)  # type: ignore[misc]
            return self.build_lookup() if found is self else found  # type: ignore[attr-defined]
