# Copyright (c) tpr_mm contributors. All rights reserved.
"""Hooks come from the config only; a missing expected hook is a named warning."""

import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.model import BaseModel

from tpr_mm.engine.loops.retrieval_loop import _diff_rank_seed
from tpr_mm.engine.runner import TPRRunner

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
RUNTIME = Config.fromfile(osp.join(ROOT, 'configs/_base_/default_runtime.py'))


class _Toy(BaseModel):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Linear(2, 2)

    def forward(self, *args, mode='tensor', **kwargs):
        return {}


def _runner(tmp_path, **kwargs) -> TPRRunner:
    # A unique experiment name: runners built in the same second would share one logger.
    return TPRRunner(
        model=_Toy(),
        work_dir=str(tmp_path),
        default_scope='tpr_mm',
        experiment_name=f'runner-hooks-{tmp_path.name}',
        **kwargs,
    )


def _log(runner) -> str:
    return ''.join(open(p).read() for p in glob.glob(osp.join(runner.log_dir, '*.log')))


def test_runtime_hooks_are_registered_from_the_config_only(tmp_path):
    runner = _runner(
        tmp_path,
        default_hooks=RUNTIME.default_hooks,
        custom_hooks=RUNTIME.custom_hooks,
        randomness=dict(seed=1, diff_rank_seed=True),
    )
    names = [type(h).__name__ for h in runner.hooks]
    for name in ('RNGStateHook', 'DataIssueReportHook', 'FiniteLossHook', 'TPRCheckpointHook'):
        assert names.count(name) == 1, names
    assert 'is not among the hooks' not in _log(runner)
    # Exactly the hooks the config lists: nothing added behind it (by MMEngine or TPRRunner).
    listed = [h.type for h in RUNTIME.default_hooks.values()] + [
        h.type for h in RUNTIME.custom_hooks
    ]
    assert sorted(names) == sorted(listed)
    # The loops read diff_rank_seed through the runner's public attribute.
    assert runner.diff_rank_seed is True and _diff_rank_seed(runner) is True


def test_missing_expected_hook_is_a_named_warning_not_an_injection(tmp_path):
    runner = _runner(tmp_path, default_hooks=dict(RUNTIME.default_hooks, rng_state=None))
    names = [type(h).__name__ for h in runner.hooks]
    assert 'RNGStateHook' not in names and 'DataIssueReportHook' in names
    log = _log(runner)
    assert 'RNGStateHook is not among the hooks of this run' in log
    assert 'DataIssueReportHook is not among' not in log


@pytest.mark.parametrize(
    'recorded, cfg, want', [(None, {}, False), (None, True, True), (False, True, False)]
)
def test_diff_rank_seed_falls_back_to_the_config(recorded, cfg, want):
    class _R:
        pass

    runner = _R()
    if recorded is not None:
        runner.diff_rank_seed = recorded
    runner.cfg = Config(dict(randomness=dict(seed=0, diff_rank_seed=cfg)) if cfg != {} else {})
    assert _diff_rank_seed(runner) is want
