# Copyright (c) tpr_mm contributors. All rights reserved.
"""tools/dist_{train,test}.sh run the project's .venv python when it exists, the caller's else.

The launchers are copied into a scratch repository root whose interpreters are fake scripts that
print who they are and their arguments, so nothing is trained.
"""

import os
import shutil
import stat
import subprocess

import pytest
from tool_helpers import ROOT

FAKE = '#!/bin/sh\necho "{who} $*"\n'


def _fake_python(path, who):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(FAKE.format(who=who))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def scratch_root(tmp_path):
    tools = tmp_path / 'repo' / 'tools'
    tools.mkdir(parents=True)
    for name in ('dist_train.sh', 'dist_test.sh', 'resolve_python.sh'):
        shutil.copy(os.path.join(ROOT, 'tools', name), tools / name)
    _fake_python(tmp_path / 'bin' / 'python', 'caller-python')
    return tmp_path


def _launch(root, script, *args, **env_extra):
    env = {k: v for k, v in os.environ.items() if k != 'TPR_PYTHON'}
    env.update(PATH=f'{root / "bin"}:{os.environ["PATH"]}', **env_extra)
    out = subprocess.run(
        ['bash', str(root / 'repo' / 'tools' / script), *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


@pytest.mark.parametrize(
    'script, args, tool',
    [
        ('dist_train.sh', ('cfg.py', '2'), 'tools/train.py cfg.py --launcher pytorch'),
        (
            'dist_test.sh',
            ('cfg.py', 'ck.pth', '2'),
            'tools/test.py cfg.py ck.pth --launcher pytorch',
        ),
    ],
)
def test_launcher_picks_project_venv_then_caller(scratch_root, script, args, tool):
    # No .venv in the repository: the caller's python (first on PATH).
    out = _launch(scratch_root, script, *args, '--amp')
    assert out.startswith('caller-python -m torch.distributed.run ')
    assert '--nproc_per_node=2' in out and out.endswith(tool + ' --amp')
    # With <repo>/.venv/bin/python (what `make demo` creates) the launcher uses it.
    _fake_python(scratch_root / 'repo' / '.venv' / 'bin' / 'python', 'venv-python')
    out = _launch(scratch_root, script, *args)
    assert out.startswith('venv-python -m torch.distributed.run ') and out.endswith(tool)
    # An explicit interpreter wins over both.
    _fake_python(scratch_root / 'other', 'explicit-python')
    out = _launch(scratch_root, script, *args, TPR_PYTHON=str(scratch_root / 'other'))
    assert out.startswith('explicit-python -m torch.distributed.run ')
