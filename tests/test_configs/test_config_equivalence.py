# Copyright (c) tpr_mm contributors. All rights reserved.
"""Every stored leaf config still resolves to the same contents after a config refactor.

``tests/data/config_fingerprints.json`` holds, per leaf config, one hash per top-level key of
``Config.fromfile(path).to_dict()``. Only configs present in that file are compared, so new
configs do not fail here. After an INTENDED change of what a config resolves to, refresh it with
``python tools/analysis/config_fingerprint.py --write`` and say why in the commit message.
"""

import importlib.util
import json
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    'config_fingerprint', os.path.join(ROOT, 'tools', 'analysis', 'config_fingerprint.py')
)
fp = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fp)

with open(fp.STORE, encoding='utf-8') as _f:
    STORED = json.load(_f)


def test_store_covers_the_leaf_configs():
    assert len(STORED) >= 40
    assert 'cpcl_cuhk.py' in STORED


@pytest.mark.parametrize('rel', sorted(STORED), ids=sorted(STORED))
def test_leaf_resolves_unchanged(rel):
    path = os.path.join(fp.CONFIG_DIR, rel)
    assert os.path.isfile(path), f'{rel} was in the fingerprint store but is gone'
    assert fp.compare(STORED[rel], fp.fingerprint(path)) == []


def test_compare_reports_a_change():
    stored = {'model': 'a', 'optim_wrapper': 'b'}
    assert fp.compare(stored, {'model': 'a', 'optim_wrapper': 'b', 'num_identities': 'c'}) == []
    assert fp.compare(stored, {'model': 'x', 'optim_wrapper': 'b'}) == [
        'model: resolved value changed'
    ]
    assert fp.compare(stored, {'model': 'a', 'extra': 'c', 'optim_wrapper': 'b'}) == [
        'extra: new top-level key'
    ]
    assert fp.compare(stored, {'model': 'a'}) == ['optim_wrapper: missing after the change']
