# Copyright (c) tpr_mm contributors. All rights reserved.
"""tpr_mm uses MMEngine through its public API; the exceptions live in utils/mmengine_compat/.

A private name of MMEngine is one that MMEngine's own source defines with a leading underscore
(a function, class, method, attribute or module variable). Outside the compatibility module, no
tpr_mm file may import one, or read one as an attribute unless tpr_mm itself defines an attribute
of that name (``self._loader`` of our hooks is ours; ``runner._hooks`` is MMEngine's). Stack
inspection (``sys._getframe``, ``inspect.currentframe`` / ``stack``) is not used at all.
"""

import ast
import os
from typing import Iterator, List, Set, Tuple

import mmengine
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COMPAT = os.path.join('tpr_mm', 'utils', 'mmengine_compat')
STACK_INSPECTION = {'_getframe', 'currentframe', 'stack', 'getouterframes', 'getframeinfo'}


def _private(name: str) -> bool:
    return name.startswith('_') and not name.startswith('__')


def defined_private_names(tree: ast.AST) -> Set[str]:
    """Private names a module defines: defs, classes, assigned attributes and variables."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return {n for n in names if _private(n)}


def _trees(folder: str, skip: str = '\0') -> Iterator[Tuple[str, ast.AST]]:
    for dirpath, _, files in os.walk(folder):
        if os.path.relpath(dirpath, ROOT).startswith(skip):
            continue
        for name in sorted(files):
            if name.endswith('.py'):
                path = os.path.join(dirpath, name)
                with open(path, encoding='utf-8') as f:
                    try:
                        yield path, ast.parse(f.read())
                    except SyntaxError:  # MMEngine ships a few templates
                        continue


MMENGINE_PRIVATE = set().union(
    *(defined_private_names(t) for _, t in _trees(os.path.dirname(mmengine.__file__)))
)
OURS = set().union(*(defined_private_names(t) for _, t in _trees(ROOT + '/tpr_mm', COMPAT)))


def private_uses(tree: ast.AST, ours: Set[str] = OURS) -> List[str]:
    """``'line: what'`` for every use of MMEngine internals or stack inspection in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('mmengine'):
            found += [f'{node.lineno}: import {a.name}' for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Attribute):
            if node.attr in STACK_INSPECTION and getattr(node.value, 'id', '') in (
                'sys',
                'inspect',
            ):
                found.append(f'{node.lineno}: {node.value.id}.{node.attr}')
            elif node.attr in MMENGINE_PRIVATE and node.attr not in ours:
                found.append(f'{node.lineno}: .{node.attr}')
    return found


def test_no_mmengine_internals_outside_the_compatibility_module():
    offenders = [
        f'{os.path.relpath(path, ROOT)}:{use}'
        for path, tree in _trees(os.path.join(ROOT, 'tpr_mm'), COMPAT)
        for use in private_uses(tree)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    'source, bad',
    [
        ('from mmengine.runner.checkpoint import _load_checkpoint', True),
        ('import mmengine\nmmengine.runner.checkpoint._load_checkpoint(f)', True),
        ('for h in runner._hooks:\n    pass', True),
        ('class R(Runner):\n    def f(self):\n        return self._randomness_cfg', True),
        ('tags = LoggerHook._process_tags(tag)', True),
        ('root = self._get_root_registry()', True),
        ('import sys\nframe = sys._getframe(1)', True),
        ('import inspect\nframe = inspect.currentframe()', True),
        ('self._loader = build(cfg)\nfor batch in self._loader:\n    pass', False),
        ('from mmengine.runner import load_checkpoint\nload_checkpoint(model, path)', False),
    ],
)
def test_the_scan_finds_internals(source, bad):
    tree = ast.parse(source)
    assert bool(private_uses(tree, OURS | defined_private_names(tree))) == bad
