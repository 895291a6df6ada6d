# Copyright (c) tpr_mm contributors. All rights reserved.
"""Helpers shared by the tool tests (a plain module: conftest names collide)."""

import importlib.util
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
# The tiny-model helpers live beside the API tests; share them, do not copy them.
sys.path.insert(0, osp.join(ROOT, 'tests', 'test_apis'))

from search_helpers import make_tiny_model, write_person_images  # noqa: E402

__all__ = ['ROOT', 'load_tool', 'make_tiny_model', 'write_person_images']


def load_tool(relpath: str):
    """Import a script under tools/ as a module (to call its main in-process)."""
    name = 'tool_' + relpath.replace('/', '_').replace('.py', '')
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
