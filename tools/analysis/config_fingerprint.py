# Copyright (c) tpr_mm contributors. All rights reserved.
"""Fingerprint every leaf config by its fully resolved contents.

A config refactor (moving blocks into bases, replacing literals by base variables) must not
change what any leaf resolves to. This tool resolves every leaf under ``configs/`` (recursively,
``_base_`` and ``metafiles`` excluded) with ``Config.fromfile(...).to_dict()`` and stores one
SHA-256 per top-level key, so a difference points at the key that changed.

Usage::

    python tools/analysis/config_fingerprint.py           # compare with the stored file
    python tools/analysis/config_fingerprint.py --write   # refresh the stored file
"""

import argparse
import glob
import hashlib
import json
import os
import sys
from typing import Dict, List

from mmengine.config import Config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_DIR = os.path.join(ROOT, 'configs')
STORE = os.path.join(ROOT, 'tests', 'data', 'config_fingerprints.json')
EXCLUDED_DIRS = ('_base_', 'metafiles')
# Top-level names a base exports for leaves to reuse (e.g. a dataset's identity count). They
# are visible in the resolved dict but no runner, model or loader reads them.
BASE_VARIABLES = (
    'num_identities',
    'clip_tiny_backbone',
    'lcr2s_clip_teacher',
    'lcr2s_clip_student',
    'lcr2s_support_set',
)


def leaf_configs(config_dir: str = CONFIG_DIR) -> List[str]:
    """Paths (relative to ``config_dir``, '/'-separated) of every leaf config."""
    found = []
    for path in glob.glob(os.path.join(config_dir, '**', '*.py'), recursive=True):
        rel = os.path.relpath(path, config_dir).replace(os.sep, '/')
        if rel.split('/')[0] in EXCLUDED_DIRS:
            continue
        found.append(rel)
    return sorted(found)


def _digest(value) -> str:
    text = json.dumps(value, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]


def fingerprint(path: str) -> Dict[str, str]:
    """One short hash per top-level key of the resolved config at ``path``."""
    resolved = Config.fromfile(path).to_dict()
    return {key: _digest(value) for key, value in sorted(resolved.items())}


def compare(stored: Dict[str, str], current: Dict[str, str]) -> List[str]:
    """Human-readable differences; exported base variables may appear without a stored hash."""
    problems = []
    for key in sorted(set(stored) | set(current)):
        if key not in current:
            problems.append(f'{key}: missing after the change')
        elif key not in stored:
            if key not in BASE_VARIABLES:
                problems.append(f'{key}: new top-level key')
        elif stored[key] != current[key]:
            problems.append(f'{key}: resolved value changed')
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--write', action='store_true', help='store the current fingerprints')
    args = parser.parse_args()
    current = {rel: fingerprint(os.path.join(CONFIG_DIR, rel)) for rel in leaf_configs()}
    if args.write:
        with open(STORE, 'w', encoding='utf-8') as f:
            json.dump(current, f, indent=1, sort_keys=True)
            f.write('\n')
        print(f'wrote {len(current)} fingerprints to {os.path.relpath(STORE, ROOT)}')
        return 0
    with open(STORE, encoding='utf-8') as f:
        stored = json.load(f)
    failed = 0
    for rel, keys in sorted(stored.items()):
        if rel not in current:
            print(f'{rel}: stored but no longer present')
            failed += 1
            continue
        for problem in compare(keys, current[rel]):
            print(f'{rel}: {problem}')
            failed += 1
    print('OK' if not failed else f'{failed} difference(s)')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
