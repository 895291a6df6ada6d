# Copyright (c) tpr_mm contributors. All rights reserved.
"""The test helper that relaunches gloo ranks once after a C++ abort."""

import os

import pytest
import torch.multiprocessing as mp
from gloo_spawn import spawn_gloo


def _aborts_first(rank, port, out, aborts):
    """Rank 1 aborts (as gloo's C++ code does) in the first ``aborts`` launches."""
    launch = sum(name.startswith('rank1-') for name in os.listdir(out))
    with open(os.path.join(out, f'rank{rank}-port{port}'), 'w') as f:
        f.write('started')
    if rank == 1 and launch < aborts:
        os.abort()


def _raises(rank, port, out):
    with open(os.path.join(out, f'rank{rank}-port{port}'), 'w') as f:
        f.write('started')
    raise ValueError('a real failure')


def _launches(out):
    """How many launches started: the distinct ports in the files written."""
    return len({name.split('-port')[1] for name in os.listdir(out)})


def test_one_abort_is_relaunched_with_a_warning(tmp_path):
    with pytest.warns(UserWarning, match='relaunching once'):
        spawn_gloo(_aborts_first, lambda port: (port, str(tmp_path), 1))
    assert _launches(tmp_path) == 2


def test_a_second_abort_fails(tmp_path):
    with pytest.warns(UserWarning, match='relaunching once'):
        with pytest.raises(mp.ProcessExitedException, match='SIGABRT'):
            spawn_gloo(_aborts_first, lambda port: (port, str(tmp_path), 2))
    assert _launches(tmp_path) == 2


def test_any_other_failure_is_not_relaunched(tmp_path):
    with pytest.raises(mp.ProcessRaisedException, match='a real failure'):
        spawn_gloo(_raises, lambda port: (port, str(tmp_path)))
    assert _launches(tmp_path) == 1
