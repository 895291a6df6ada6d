# Copyright (c) tpr_mm contributors. All rights reserved.
"""The only place where tpr_mm touches MMEngine internals, gated by version.

Everything else in ``tpr_mm`` extends MMEngine through public hooks,
overrides and registries. Each behaviour below cannot be changed that way;
its module names the MMEngine behaviour it works around:

* :mod:`.engine` — crash-safe checkpoint bookkeeping
  (:class:`SaveBeforeRemoveCheckpointHook`), the runner's "checkpoint loaded"
  flag (:func:`mark_checkpoint_loaded`) and HistoryBuffer's registered
  statistics (:func:`history_buffer_statistics`). Importing it with an
  MMEngine outside :data:`TESTED_MMENGINE` is an error, so an upgrade fails at
  start-up instead of silently losing crash safety.
* :mod:`.registry_lookup` — the detailed unknown-type error for builds that
  start on MMEngine's root registries (:class:`BuildLookup`,
  :class:`BuildLookupHook`); switched off outside the checked versions.
"""

from .engine import (
    TESTED_MMENGINE,
    SaveBeforeRemoveCheckpointHook,
    check_mmengine_version,
    history_buffer_statistics,
    mark_checkpoint_loaded,
)
from .registry_lookup import SEARCH_CHILD_HOOK, BuildLookup, BuildLookupHook

__all__ = [
    'TESTED_MMENGINE',
    'SaveBeforeRemoveCheckpointHook',
    'check_mmengine_version',
    'history_buffer_statistics',
    'mark_checkpoint_loaded',
    'SEARCH_CHILD_HOOK',
    'BuildLookup',
    'BuildLookupHook',
]
