# Copyright (c) tpr_mm contributors. All rights reserved.
"""Registries of tpr_mm.

Every registry is a child of the matching MMEngine root registry, in the
``tpr_mm`` scope. A config with ``default_scope='tpr_mm'`` therefore finds our
components first and falls back to MMEngine's (and, with the ``mmpretrain.``
prefix, to MMPretrain's). ``locations`` lets the registry import the modules
that register into it the first time it is searched, so no manual import is
needed.

A type that no registry knows is reported by :class:`TPRRegistry` with the
registry searched and the closest registered names (a config typo such as
``'TextImageRetrievr'`` names ``'TextImageRetriever'``).
"""

import difflib
import sys
from typing import List, Optional

from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import Registry, build_from_cfg, build_runner_from_cfg
from mmengine.registry.build_functions import build_scheduler_from_cfg

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

# MMEngine's build functions call ``registry.get(type)`` and raise a bare
# KeyError on None (the optimizer constructor even fails with a TypeError);
# only those callers get the detailed error below, every other ``get`` keeps
# returning None.
_BUILD_CODES = frozenset(
    f.__code__
    for f in (
        build_from_cfg,
        build_runner_from_cfg,
        build_scheduler_from_cfg,
        DefaultOptimWrapperConstructor.__call__,
    )
)


class UnknownTypeError(KeyError):
    """A config ``type`` that is registered nowhere (a :class:`KeyError`)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else ''


class TPRRegistry(Registry):
    """A :class:`~mmengine.registry.Registry` whose failed builds suggest names.

    ``get`` behaves exactly like MMEngine's (None for an unknown key) except
    when called by MMEngine's build functions, which would raise a bare
    ``KeyError`` next: it then raises :class:`UnknownTypeError` naming the
    registries searched and the closest registered names.
    """

    def get(self, key: str):
        obj = super().get(key)
        if obj is None and isinstance(key, str) and sys._getframe(1).f_code in _BUILD_CODES:
            raise UnknownTypeError(self.unknown_type_message(key))
        return obj

    def _searched(self, key: str) -> List[Registry]:
        """Registries ``get(key)`` searches, nearest first."""
        scope, _ = self.split_scope_key(key)
        start: Optional[Registry] = self
        if scope is not None and scope != self.scope:
            root = self._get_root_registry()
            start = root if scope == root.scope else root._search_child(scope)
        chain = []
        while start is not None:
            chain.append(start)
            if scope is not None:
                break  # a scoped key is looked up in that scope's registry only
            start = start.parent
        return chain

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


RUNNERS = TPRRegistry(
    'runner', parent=MMENGINE_RUNNERS, scope='tpr_mm', locations=['tpr_mm.engine']
)
LOOPS = TPRRegistry('loop', parent=MMENGINE_LOOPS, scope='tpr_mm', locations=['tpr_mm.engine'])
HOOKS = TPRRegistry('hook', parent=MMENGINE_HOOKS, scope='tpr_mm', locations=['tpr_mm.engine'])
LOG_PROCESSORS = TPRRegistry(
    'log processor', parent=MMENGINE_LOG_PROCESSORS, scope='tpr_mm', locations=['tpr_mm.engine']
)
OPTIMIZERS = TPRRegistry(
    'optimizer', parent=MMENGINE_OPTIMIZERS, scope='tpr_mm', locations=['tpr_mm.engine']
)
OPTIM_WRAPPERS = TPRRegistry(
    'optim wrapper', parent=MMENGINE_OPTIM_WRAPPERS, scope='tpr_mm', locations=['tpr_mm.engine']
)
OPTIM_WRAPPER_CONSTRUCTORS = TPRRegistry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='tpr_mm',
    locations=['tpr_mm.engine'],
)
PARAM_SCHEDULERS = TPRRegistry(
    'parameter scheduler',
    parent=MMENGINE_PARAM_SCHEDULERS,
    scope='tpr_mm',
    locations=['tpr_mm.engine'],
)
DATASETS = TPRRegistry(
    'dataset', parent=MMENGINE_DATASETS, scope='tpr_mm', locations=['tpr_mm.datasets']
)
DATA_SAMPLERS = TPRRegistry(
    'data sampler', parent=MMENGINE_DATA_SAMPLERS, scope='tpr_mm', locations=['tpr_mm.datasets']
)
TRANSFORMS = TPRRegistry(
    'transform', parent=MMENGINE_TRANSFORMS, scope='tpr_mm', locations=['tpr_mm.datasets']
)
MODELS = TPRRegistry('model', parent=MMENGINE_MODELS, scope='tpr_mm', locations=['tpr_mm.models'])
MODEL_WRAPPERS = TPRRegistry(
    'model wrapper', parent=MMENGINE_MODEL_WRAPPERS, scope='tpr_mm', locations=['tpr_mm.models']
)
METRICS = TPRRegistry(
    'metric', parent=MMENGINE_METRICS, scope='tpr_mm', locations=['tpr_mm.evaluation']
)
EVALUATOR = TPRRegistry(
    'evaluator', parent=MMENGINE_EVALUATOR, scope='tpr_mm', locations=['tpr_mm.evaluation']
)
VISUALIZERS = TPRRegistry(
    'visualizer', parent=MMENGINE_VISUALIZERS, scope='tpr_mm', locations=['tpr_mm.visualization']
)
VISBACKENDS = TPRRegistry(
    'vis_backend', parent=MMENGINE_VISBACKENDS, scope='tpr_mm', locations=['tpr_mm.visualization']
)
