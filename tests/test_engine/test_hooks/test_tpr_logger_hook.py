# Copyright (c) tpr_mm contributors. All rights reserved.
import json
from types import SimpleNamespace

import pytest

from tpr_mm.engine.hooks import tpr_logger_hook
from tpr_mm.registry import HOOKS


class _LogProcessor:
    def get_log_after_epoch(self, runner, n, mode, with_non_scalar=False):
        assert mode == 'test' and with_non_scalar
        return {'t2i/R1': 12.5, 't2i/mAP': 7.0}, 'Epoch(test) [3/3] t2i/R1: 12.5'


class _Logger:
    def __init__(self):
        self.lines = []

    def info(self, line):
        self.lines.append(line)


def _runner(tmp_path):
    return SimpleNamespace(
        log_processor=_LogProcessor(),
        test_dataloader=[0, 1, 2],
        logger=_Logger(),
        log_dir=str(tmp_path),
        timestamp='20260101_000000',
    )


@pytest.mark.parametrize('main', [True, False])
def test_only_the_main_process_writes_the_test_json(tmp_path, monkeypatch, main):
    monkeypatch.setattr(tpr_logger_hook, 'is_main_process', lambda: main)
    hook = HOOKS.build(dict(type='TPRLoggerHook', interval=1))
    runner = _runner(tmp_path)
    hook.json_log_path = f'{runner.timestamp}.json'
    hook.after_test_epoch(runner)
    assert runner.logger.lines == ['Epoch(test) [3/3] t2i/R1: 12.5']  # every rank logs
    path = tmp_path / '20260101_000000.json'
    if main:
        assert json.loads(path.read_text()) == {'t2i/R1': 12.5, 't2i/mAP': 7.0}
        assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left
    else:
        assert not path.exists()


def test_json_friendly_matches_mmengine_conversion():
    import numpy as np
    import torch
    from mmengine.hooks import LoggerHook

    tag = {
        't2i/R1': 12.5,
        'epoch': 3,
        'ok': True,
        'name': 'cuhk',
        'none': None,
        'ranks': (1, 5, 10),
        'nested': {'t': torch.tensor([[1.0, 2.0]]), 'a': np.arange(3), 'obj': object()},
        'items': [torch.tensor(0.25), {'x': [np.ones(2)]}],
    }
    ours = tpr_logger_hook.json_friendly(tag)
    # MMEngine's (private) conversion, used here only as the reference.
    assert ours == dict(LoggerHook._process_tags(tag))
    assert json.loads(json.dumps(ours)) == ours
    # Beyond MMEngine: NumPy scalars keep their value instead of becoming null.
    assert tpr_logger_hook.json_friendly({'r': np.float32(0.5)}) == {'r': 0.5}
