# Copyright (c) tpr_mm contributors. All rights reserved.
"""tools/analysis/gpu_check.sh leaves cleanly where CUDA is absent."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_exits_cleanly_without_cuda(tmp_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES='', PYTHON=sys.executable, PYTHONPATH=ROOT)
    out = subprocess.run(
        ['bash', os.path.join(ROOT, 'tools', 'analysis', 'gpu_check.sh'), str(tmp_path / 'data')],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert 'CUDA is not available' in out.stdout
    assert not (tmp_path / 'data').exists()  # nothing generated, nothing run


def test_check_table_format():
    from tpr_mm.utils.gpu_check import format_rows

    table = format_rows([('amp fp16 x3 cfg', 'ok 1.234', 2.0), ('metric', 'R1=50.00', 0.5)])
    lines = table.splitlines()
    assert lines[0].startswith('check') and 'ok 1.234' in lines[1] and len(lines) == 3
