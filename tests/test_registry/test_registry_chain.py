# Copyright (c) tpr_mm contributors. All rights reserved.
"""Registry chain tpr_mm -> mmpretrain -> mmengine, lazy MMPretrain fallback."""

import json
import os
import os.path as osp
import subprocess
import sys

import mmpretrain.registry as mmpretrain_registry
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import DefaultScope

import tpr_mm.registry as registry
from tpr_mm.registry import LOOPS, MODELS, TRANSFORMS, TPRRegistry

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PARENT_NAME = {'EVALUATOR': 'EVALUATORS'}


def test_every_registry_is_a_child_of_mmpretrains():
    for name in registry.__all__:
        reg = getattr(registry, name)
        if not isinstance(reg, TPRRegistry):
            continue
        parent = getattr(mmpretrain_registry, PARENT_NAME.get(name, name))
        assert reg.parent is parent, name
        assert (reg.scope, parent.scope, parent.parent.scope) == (
            'tpr_mm',
            'mmpretrain',
            'mmengine',
        )
        assert parent.children['tpr_mm'] is reg


LAZY_PROBE = """
import json, sys
from tpr_mm.registry import MODELS, TRANSFORMS
before = 'mmpretrain.models' in sys.modules
own = type(MODELS.build(dict(type='SDMLoss'))).__module__
after_own = 'mmpretrain.models' in sys.modules
resnet = type(MODELS.build(dict(type='ResNet', depth=18)))
erasing = type(TRANSFORMS.build(dict(type='RandomErasing')))
print(json.dumps(dict(before=before, own=own, after_own=after_own,
                      resnet=resnet.__module__, erasing=erasing.__module__)))
"""


def test_mmpretrain_types_build_by_name_and_are_imported_only_on_a_miss():
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, '-c', LAZY_PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out['before'] is False and out['after_own'] is False  # our types need no MMPretrain
    assert out['own'].startswith('tpr_mm.models')
    assert out['resnet'].startswith('mmpretrain.models.backbones')
    assert out['erasing'].startswith('mmpretrain.datasets.transforms')


def test_our_names_win_over_mmpretrains():
    LOOPS.import_ancestor_locations()
    theirs = mmpretrain_registry.LOOPS.get('RetrievalTestLoop')
    assert theirs is not None and theirs.__module__.startswith('mmpretrain')
    for name in ('RetrievalTestLoop', 'RetrievalValLoop'):  # registered by both
        assert LOOPS.get(name).__module__.startswith('tpr_mm.engine'), name
        assert LOOPS.get(f'mmpretrain.{name}').__module__.startswith('mmpretrain'), name


def test_mmpretrain_types_through_mmengine_root_under_our_scope():
    with DefaultScope.overwrite_default_scope('tpr_mm'):
        net = MMENGINE_MODELS.build(dict(type='ResNet', depth=18))
        assert type(net).__module__.startswith('mmpretrain')
        assert type(MMENGINE_MODELS.build(dict(type='SDMLoss'))) is MODELS.get('SDMLoss')
    assert 'RandomErasing' in TRANSFORMS and 'NoSuchTransformXyz' not in TRANSFORMS


def test_build_lookup_is_a_stateless_registry_view():
    from mmengine.registry import Registry

    from tpr_mm.registry import UnknownTypeError
    from tpr_mm.utils.mmengine_compat import SEARCH_CHILD_HOOK

    view = MODELS.build_lookup()
    assert isinstance(view, Registry)  # MMEngine's builds check this
    assert view.scope == 'tpr_mm' and view.parent is MODELS.parent
    assert view.module_dict is MODELS.module_dict and view.get('SDMLoss') is MODELS.get('SDMLoss')
    assert 'tpr_mm' in MODELS.parent.children and MODELS.parent.children['tpr_mm'] is MODELS
    try:
        view.get('SDMLos')
    except UnknownTypeError as err:
        assert "closest registered names: 'SDMLoss'" in str(err)
    else:
        raise AssertionError('BuildLookup.get returned for an unknown type')
    assert MODELS.get('SDMLos') is None  # the registry itself keeps MMEngine's contract
    assert SEARCH_CHILD_HOOK  # the installed MMEngine is one the hook was checked against
