# Copyright (c) tpr_mm contributors. All rights reserved.
"""Inference APIs: encode with a trained model, index a gallery, search it by text."""

from .gallery_index import GalleryIndex
from .image_search import index_image_folder, list_images, search_text
from .index_factory import ivfpq_factory
from .index_files import CorruptIndexError, FingerprintMismatchError, IndexChangedError
from .index_lock import IndexBusyError
from .inferencer import TextImageInferencer
from .prepare_data import prepare_data, synthetic_sets
from .rehearsal import RehearsalHook, run_rehearsal
from .result_grid import draw_result_grid

__all__ = [
    'GalleryIndex',
    'FingerprintMismatchError',
    'CorruptIndexError',
    'IndexChangedError',
    'IndexBusyError',
    'ivfpq_factory',
    'TextImageInferencer',
    'index_image_folder',
    'list_images',
    'search_text',
    'draw_result_grid',
    'RehearsalHook',
    'run_rehearsal',
    'prepare_data',
    'synthetic_sets',
]
