# Copyright (c) tpr_mm contributors. All rights reserved.
"""``tpr_mm.clustering`` is a leaf: it never imports engine, apis or models."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / 'tpr_mm' / 'clustering'
FORBIDDEN = ('tpr_mm.engine', 'tpr_mm.apis', 'tpr_mm.models', 'mmengine', 'mmpretrain')


def _imported_modules(path: Path) -> list:
    """Absolute module names imported by one file (relative imports resolved)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.append(node.module or '')
            else:  # relative: resolve against tpr_mm.clustering
                parts = ['tpr_mm', 'clustering'][: 3 - node.level]
                names.append('.'.join(parts + ([node.module] if node.module else [])))
    return names


def test_no_upward_import_in_source():
    offenders = [
        f'{p.name}: {name}'
        for p in sorted(PACKAGE.glob('*.py'))
        for name in _imported_modules(p)
        if name.startswith(FORBIDDEN)
    ]
    assert not offenders, offenders


def test_importing_the_package_loads_no_engine_or_apis():
    code = (
        'import sys, tpr_mm.clustering, tpr_mm.clustering.oplm, tpr_mm.clustering.quality\n'
        f'print([m for m in sys.modules if m.startswith({FORBIDDEN!r})])\n'
    )
    out = subprocess.run(
        [sys.executable, '-c', code], capture_output=True, text=True, check=True, timeout=600
    )
    assert out.stdout.strip() == '[]', out.stdout
