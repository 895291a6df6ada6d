# Copyright (c) tpr_mm contributors. All rights reserved.
"""Dependencies flow tools -> apis -> engine -> models/datasets/evaluation -> registry.

Every ``import`` in ``tpr_mm/`` (also those inside functions) is checked: a package may import
only packages of a lower layer or its own. ``tpr_mm.testing`` holds test helpers: it may import
any layer, and no library package may import it.
"""

import ast
import os
from typing import Iterator, List, Tuple

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Higher number = higher layer. A package not listed (e.g. a numpy-only helper package such as
# tpr_mm.clustering) is a bottom-layer helper like utils.
LAYERS = {
    'tools': 5,
    'testing': 4,
    'apis': 4,
    'engine': 3,
    'models': 2,
    'datasets': 2,
    'evaluation': 2,
    'visualization': 2,
    'registry': 1,
    'structures': 1,
    'fileio': 1,
    'utils': 1,
    'version': 1,
}


def _package(module: str) -> str:
    """``'tpr_mm.engine.hooks.x'`` -> ``'engine'``; ``'tools.train'`` -> ``'tools'``."""
    parts = module.split('.')
    if parts[0] == 'tools':
        return 'tools'
    return parts[1] if len(parts) > 1 else ''


def imported_modules(module: str, source: str, is_package: bool) -> Iterator[str]:
    """Absolute names of the tpr_mm/tools modules ``source`` imports anywhere in its body."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing module's package
                base = module.split('.') if is_package else module.split('.')[:-1]
                base = base[: len(base) - (node.level - 1)]
                names = ['.'.join(base + ([node.module] if node.module else []))]
            else:
                names = [node.module or '']
        else:
            continue
        for name in names:
            if name.split('.')[0] in ('tpr_mm', 'tools'):
                yield name


def upward_imports(module: str, source: str, is_package: bool = False) -> List[str]:
    """``'importer -> imported'`` for every import that points to a higher layer or to tests."""
    own = _package(module)
    level = LAYERS.get(own, 1)
    bad = []
    for name in imported_modules(module, source, is_package):
        target = _package(name)
        if target == own:
            continue
        higher = LAYERS.get(target, 1) > level
        helper = target == 'testing' and own != 'testing'
        if higher or helper or target == 'tools':
            bad.append(f'{module} -> {name}')
    return bad


def _modules() -> Iterator[Tuple[str, str, bool]]:
    for dirpath, _, files in os.walk(os.path.join(ROOT, 'tpr_mm')):
        for name in sorted(files):
            if name.endswith('.py'):
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
                is_package = name == '__init__.py'
                module = rel[: -len('.__init__')] if is_package else rel
                with open(path, encoding='utf-8') as f:
                    yield module, f.read(), is_package


def test_no_upward_import_in_the_package():
    offenders = [line for mod, src, pkg in _modules() for line in upward_imports(mod, src, pkg)]
    assert offenders == []


@pytest.mark.parametrize(
    'module, source, bad',
    [
        ('tpr_mm.models.a', 'from tpr_mm.engine.runner import TPRRunner', True),
        ('tpr_mm.datasets.a', 'def f():\n    import tpr_mm.apis\n', True),  # lazy import
        ('tpr_mm.evaluation.a', 'from tpr_mm.engine import hooks', True),
        ('tpr_mm.engine.hooks.a', 'from tpr_mm.apis import run_rehearsal', True),
        ('tpr_mm.engine.hooks.a', 'from ...apis import x', True),  # relative, two levels up
        ('tpr_mm.apis.a', 'from tools.train import main', True),
        ('tpr_mm.models.a', 'from tpr_mm.testing.configs import shrink_config', True),
        ('tpr_mm.utils.a', 'from tpr_mm.models import MODELS', True),
        ('tpr_mm.engine.hooks.a', 'from tpr_mm.models.retrievers import LCR2SStudent', False),
        ('tpr_mm.engine.hooks.a', 'from ..runner.checkpoint import resolve_checkpoint', False),
        ('tpr_mm.models.a', 'from tpr_mm.utils.dist import all_gather_rows', False),
        ('tpr_mm.apis.a', 'from tpr_mm.engine.runner import TPRRunner', False),
        ('tpr_mm.testing.a', 'from tpr_mm.apis import prepare_data', False),
    ],
)
def test_the_scan_tells_upward_from_downward(module, source, bad):
    assert bool(upward_imports(module, source)) == bad
