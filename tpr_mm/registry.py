# Copyright (c) tpr_mm contributors. All rights reserved.
"""Registries of tpr_mm.

Every registry is a child of the matching MMEngine root registry, in the
``tpr_mm`` scope. A config with ``default_scope='tpr_mm'`` therefore finds our
components first and falls back to MMEngine's (and, with the ``mmpretrain.``
prefix, to MMPretrain's). ``locations`` lets the registry import the modules
that register into it the first time it is searched, so no manual import is
needed.
"""
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
from mmengine.registry import Registry

__all__ = [
    'RUNNERS', 'LOOPS', 'HOOKS', 'LOG_PROCESSORS', 'OPTIMIZERS',
    'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS',
    'DATASETS', 'DATA_SAMPLERS', 'TRANSFORMS', 'MODELS', 'MODEL_WRAPPERS',
    'METRICS', 'EVALUATOR', 'VISUALIZERS', 'VISBACKENDS'
]

RUNNERS = Registry('runner', parent=MMENGINE_RUNNERS, scope='tpr_mm',
                   locations=['tpr_mm.engine'])
LOOPS = Registry('loop', parent=MMENGINE_LOOPS, scope='tpr_mm',
                 locations=['tpr_mm.engine'])
HOOKS = Registry('hook', parent=MMENGINE_HOOKS, scope='tpr_mm',
                 locations=['tpr_mm.engine'])
LOG_PROCESSORS = Registry('log processor', parent=MMENGINE_LOG_PROCESSORS,
                          scope='tpr_mm', locations=['tpr_mm.engine'])
OPTIMIZERS = Registry('optimizer', parent=MMENGINE_OPTIMIZERS, scope='tpr_mm',
                      locations=['tpr_mm.engine'])
OPTIM_WRAPPERS = Registry('optim wrapper', parent=MMENGINE_OPTIM_WRAPPERS,
                          scope='tpr_mm', locations=['tpr_mm.engine'])
OPTIM_WRAPPER_CONSTRUCTORS = Registry(
    'optimizer wrapper constructor',
    parent=MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS,
    scope='tpr_mm',
    locations=['tpr_mm.engine'])
PARAM_SCHEDULERS = Registry('parameter scheduler',
                            parent=MMENGINE_PARAM_SCHEDULERS, scope='tpr_mm',
                            locations=['tpr_mm.engine'])
DATASETS = Registry('dataset', parent=MMENGINE_DATASETS, scope='tpr_mm',
                    locations=['tpr_mm.datasets'])
DATA_SAMPLERS = Registry('data sampler', parent=MMENGINE_DATA_SAMPLERS,
                         scope='tpr_mm', locations=['tpr_mm.datasets'])
TRANSFORMS = Registry('transform', parent=MMENGINE_TRANSFORMS, scope='tpr_mm',
                      locations=['tpr_mm.datasets'])
MODELS = Registry('model', parent=MMENGINE_MODELS, scope='tpr_mm',
                  locations=['tpr_mm.models'])
MODEL_WRAPPERS = Registry('model wrapper', parent=MMENGINE_MODEL_WRAPPERS,
                          scope='tpr_mm', locations=['tpr_mm.models'])
METRICS = Registry('metric', parent=MMENGINE_METRICS, scope='tpr_mm',
                   locations=['tpr_mm.evaluation'])
EVALUATOR = Registry('evaluator', parent=MMENGINE_EVALUATOR, scope='tpr_mm',
                     locations=['tpr_mm.evaluation'])
VISUALIZERS = Registry('visualizer', parent=MMENGINE_VISUALIZERS,
                       scope='tpr_mm', locations=['tpr_mm.visualization'])
VISBACKENDS = Registry('vis_backend', parent=MMENGINE_VISBACKENDS,
                       scope='tpr_mm', locations=['tpr_mm.visualization'])
