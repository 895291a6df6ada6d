# Copyright (c) tpr_mm contributors. All rights reserved.
"""Lookups of builds started on MMEngine's root registries (see the package docstring).

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
from mmengine.registry import Registry
from mmengine.utils import digit_version

#: MMEngine versions whose ``switch_scope_and_registry`` was read for the hook.
CHECKED_MMENGINE = ('0.10.0', '0.11.0')

SEARCH_CHILD_HOOK = (
    digit_version(CHECKED_MMENGINE[0])
    <= digit_version(mmengine.__version__)
    < digit_version(CHECKED_MMENGINE[1])
)


class BuildLookup(Registry):
    """A registry as a build sees it: ``get`` raises instead of returning None.

    MMEngine's builds check ``isinstance(registry, Registry)`` and may pass
    the registry on to a nested build, so this is a :class:`Registry` that
    holds no state of its own: every attribute it does not define is read
    from the wrapped registry (its modules, parent, scope, children).

    Args:
        registry (Registry): The registry to look types up in.
        error (Callable[[str], Exception]): Makes the error for an unknown key.
    """

    def __init__(self, registry: Registry, error: Callable[[str], Exception]) -> None:
        # Registry.__init__ is skipped on purpose: it would add a second child.
        self.__dict__['registry'] = registry
        self.__dict__['error'] = error

    def get(self, key: str) -> Any:
        obj = self.registry.get(key)
        if obj is None and isinstance(key, str):
            raise self.error(key)
        return obj

    def import_from_location(self) -> None:
        self.registry.import_from_location()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__['registry'], name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.registry, name, value)

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
