# Copyright (c) tpr_mm contributors. All rights reserved.
"""tools/analysis/evidence_matrix.sh plans every evidence config, seed and report (dry run)."""

import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.skipif(shutil.which('bash') is None, reason='needs bash')
def test_dry_run_covers_the_matrix(tmp_path):
    out = tmp_path / 'evidence'
    env = dict(os.environ, PY='echo', SEEDS='3 5', OUT=str(out))
    proc = subprocess.run(
        ['bash', os.path.join(ROOT, 'tools', 'analysis', 'evidence_matrix.sh')],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert 'make_pretrained_standin.py' in lines[0]
    trained = ' '.join(line for line in lines if '--report-only' not in line)
    for path in glob.glob(os.path.join(ROOT, 'configs', 'evidence', '*.py')):
        assert os.path.relpath(path, ROOT) in trained
    students = [ln for ln in lines if 'teacher_checkpoint' in ln]
    assert len(students) == 2
    assert f'model.teacher_checkpoint={out}/lcr2s_teacher_medium/seed5' in students[1]
    reports = [line for line in lines if '--report-only' in line]
    assert [r.split('--baseline ')[1].split()[0] for r in reports] == [
        'clip_sdm_medium',
        'clip_itc_weak_medium',
        'cfine_medium',
        'lcr2s_student_nokd_medium',
    ]
    assert os.path.islink(out / 'reports' / 'cpcl' / 'cpcl_no_pmm_medium')
