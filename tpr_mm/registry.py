# Copyright (c) tpr_mm contributors. All rights reserved.
"""Registries of tpr_mm.

Every registry is a child of the matching MMPretrain registry, in the
``tpr_mm`` scope, so a lookup walks ``tpr_mm`` -> ``mmpretrain`` ->
``mmengine``: a config with ``default_scope='tpr_mm'`` finds our components
first (our names win over MMPretrain's), then MMPretrain's (``ResNet``,
``RandomErasing``, ...), then MMEngine's. ``type='mmpretrain.ResNet'`` still
names MMPretrain's explicitly. ``locations`` lets a registry import the
modules that register into it the first time it is searched. MMEngine's lookup
does not import a *parent's* locations, and importing MMPretrain's models takes
seconds, so :class:`TPRRegistry` imports its ancestors' locations only when a
key is not found (never at import time).

A type that no registry knows is reported with the registry searched and the
closest registered names (a config typo such as ``'TextImageRetrievr'`` names
``'TextImageRetriever'``); ``get`` itself keeps MMEngine's contract and returns
None.
"""

import difflib
from contextlib import contextmanager
from typing import Generator, List, Optional

from mmengine.registry import Registry
from mmpretrain.registry import DATA_SAMPLERS as MMPRETRAIN_DATA_SAMPLERS
from mmpretrain.registry import DATASETS as MMPRETRAIN_DATASETS
from mmpretrain.registry import EVALUATORS as MMPRETRAIN_EVALUATORS
from mmpretrain.registry import HOOKS as MMPRETRAIN_HOOKS
from mmpretrain.registry import LOG_PROCESSORS as MMPRETRAIN_LOG_PROCESSORS
from mmpretrain.registry import LOOPS as MMPRETRAIN_LOOPS
from mmpretrain.registry import METRICS as MMPRETRAIN_METRICS
from mmpretrain.registry import MODEL_WRAPPERS as MMPRETRAIN_MODEL_WRAPPERS
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS
from mmpretrain.registry import OPTIM_WRAPPERS as MMPRETRAIN_OPTIM_WRAPPERS
from mmpretrain.registry import OPTIMIZERS as MMPRETRAIN_OPTIMIZERS
from mmpretrain.registry import PARAM_SCHEDULERS as MMPRETRAIN_PARAM_SCHEDULERS
from mmpretrain.registry import RUNNERS as MMPRETRAIN_RUNNERS
from mmpretrain.registry import TRANSFORMS as MMPRETRAIN_TRANSFORMS
from mmpretrain.registry import VISBACKENDS as MMPRETRAIN_VISBACKENDS
from mmpretrain.registry import VISUALIZERS as MMPRETRAIN_VISUALIZERS

from tpr_mm.utils.mmengine_compat import BuildLookup, BuildLookupHook

__all__ = [
    'RUNNERS',
    'LOOPS',
    'HOOKS',
    'LOG_PROCESSORS',
    'OPTIMIZERS',
    'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS',
    'DATASETS',
    'DATA_SAMPLERS',
    'TRANSFORMS',
    'MODELS',
    'MODEL_WRAPPERS',
    'METRICS',
    'EVALUATOR',
    'VISUALIZERS',
    'VISBACKENDS',
    'TPRRegistry',
    'UnknownTypeError',
]


class UnknownTypeError(KeyError):
    """A config ``type`` that is registered nowhere (a :class:`KeyError`)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ''


class TPRRegistry(BuildLookupHook, Registry):
    """A :class:`~mmengine.registry.Registry` that falls back to its ancestors'
    modules lazily and whose failed builds suggest names.

    ``get`` behaves like MMEngine's (None for an unknown key) but, on a miss,
    first imports the ancestors' ``locations`` (MMPretrain's modules) and looks
    again. Builds look types up through :meth:`build_lookup`, whose ``get``
    raises :class:`UnknownTypeError` naming the registries searched and the
    closest registered names where MMEngine would raise a bare ``KeyError``.
    """

    def get(self, key: str):
        obj = super().get(key)
        if obj is None and self.import_ancestor_locations():
            obj = super().get(key)
        return obj

    def import_ancestor_locations(self) -> bool:
        """Import every ancestor's ``locations``; True if any was imported now."""
        imported = False
        parent = self.parent
        while parent is not None:
            before = len(parent.module_dict)
            parent.import_from_location()
            imported |= len(parent.module_dict) != before
            parent = parent.parent
        return imported

    def build_lookup(self) -> BuildLookup:
        """This registry as builds see it (``get`` raises on unknown types)."""
        return BuildLookup(self, lambda key: UnknownTypeError(self.unknown_type_message(key)))

    @contextmanager
    def switch_scope_and_registry(self, scope: Optional[str]) -> Generator:
        """MMEngine's switch, but a build on this registry looks types up
        through :meth:`build_lookup`."""
        with super().switch_scope_and_registry(scope) as registry:
            yield self.build_lookup() if registry is self else registry

    def _searched(self, key: str) -> List[Registry]:
        """Registries ``get(key)`` searches, nearest first."""
        scope, _ = self.split_scope_key(key)
        if scope is None:
            chain, node = [], self
            while node is not None:
                chain.append(node)
                node = node.parent
            return chain
        if scope == self.scope:
            return [self]  # a scoped key is looked up in that scope's registry only
        root = self
        while root.parent is not None:
            root = root.parent
        todo = [root]
        while todo:
            node = todo.pop()
            if node.scope == scope:
                return [node]
            todo.extend(node.children.values())
        return []

    def unknown_type_message(self, key: str) -> str:
        """Error text for a type ``key`` that no searched registry holds."""
        scope, real_key = self.split_scope_key(key)
        chain = self._searched(key)
        if not chain:
            return (
                f"'{key}' is not registered: no registry has the scope '{scope}' "
                f'(is that package installed and imported?)'
            )
        names = {}
        for reg in chain:
            reg.import_from_location()
            for name in reg.module_dict:
                names.setdefault(name.lower(), name)
        close = difflib.get_close_matches(real_key.lower(), list(names), n=3, cutoff=0.6)
        where = ', then '.join(f'{r.scope}::{r.name}' for r in chain)
        prefix = f'{scope}.' if scope is not None else ''
        hint = (
            'closest registered names: ' + ', '.join(repr(prefix + names[c]) for c in close)
            if close
            else f'no similar name among {len(names)} registered ones'
        )
        return (
            f"'{key}' is not in the {self.name} registry (searched {where}); {hint}. "
            'Check the `type` in the config, or import the module that registers it '
            '(custom_imports).'
        )


def _registry(name: str, parent: Registry, package: str) -> TPRRegistry:
    return TPRRegistry(name, parent=parent, scope='tpr_mm', locations=[f'tpr_mm.{package}'])


RUNNERS = _registry('runner', MMPRETRAIN_RUNNERS, 'engine')
LOOPS = _registry('loop', MMPRETRAIN_LOOPS, 'engine')
HOOKS = _registry('hook', MMPRETRAIN_HOOKS, 'engine')
LOG_PROCESSORS = _registry('log processor', MMPRETRAIN_LOG_PROCESSORS, 'engine')
OPTIMIZERS = _registry('optimizer', MMPRETRAIN_OPTIMIZERS, 'engine')
OPTIM_WRAPPERS = _registry('optim wrapper', MMPRETRAIN_OPTIM_WRAPPERS, 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _registry(
    'optimizer wrapper constructor', MMPRETRAIN_OPTIM_WRAPPER_CONSTRUCTORS, 'engine'
)
PARAM_SCHEDULERS = _registry('parameter scheduler', MMPRETRAIN_PARAM_SCHEDULERS, 'engine')
DATASETS = _registry('dataset', MMPRETRAIN_DATASETS, 'datasets')
DATA_SAMPLERS = _registry('data sampler', MMPRETRAIN_DATA_SAMPLERS, 'datasets')
TRANSFORMS = _registry('transform', MMPRETRAIN_TRANSFORMS, 'datasets')
MODELS = _registry('model', MMPRETRAIN_MODELS, 'models')
MODEL_WRAPPERS = _registry('model wrapper', MMPRETRAIN_MODEL_WRAPPERS, 'models')
METRICS = _registry('metric', MMPRETRAIN_METRICS, 'evaluation')
EVALUATOR = _registry('evaluator', MMPRETRAIN_EVALUATORS, 'evaluation')
VISUALIZERS = _registry('visualizer', MMPRETRAIN_VISUALIZERS, 'visualization')
VISBACKENDS = _registry('vis_backend', MMPRETRAIN_VISBACKENDS, 'visualization')
