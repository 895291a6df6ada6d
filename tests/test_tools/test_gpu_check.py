# Copyright (c) tpr_mm contributors. All rights reserved.
"""tools/analysis/gpu_check.sh on a CPU machine, and its check runner with fake checks."""

import importlib.util
import os
import subprocess
import sys
import time

import pytest

from tpr_mm.utils.check_runner import (
    CheckSpec,
    exit_status,
    format_table,
    make_row,
    run_checks,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'tools', 'analysis', 'gpu_check.sh')


def _env(**extra):
    env = dict(os.environ, TPR_PYTHON=sys.executable, OMP_NUM_THREADS='1', **extra)
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [ROOT, env.get('PYTHONPATH')]))
    return env


def _fake(code: str) -> list:
    """A child that runs ``code`` with ``out`` = the result path (stdlib only: fast)."""
    return [sys.executable, '-c', 'import json, sys, time\nout = sys.argv[1]\n' + code, '{out}']


PASS = (
    "json.dump([dict(check='fake pass', status='ok', seconds=0.1, figure='42 img/s')], "
    "open(out, 'w'))"
)


def _assert_gone(pid: int, what: str, seconds: float = 5.0) -> None:
    """The process ``pid`` ends within ``seconds`` (init reaps it once killed)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f'process {pid} {what} still runs')


def test_no_cuda_exits_cleanly_with_message():
    t0 = time.perf_counter()
    proc = subprocess.run(
        ['bash', SCRIPT], env=_env(CUDA_VISIBLE_DEVICES=''), capture_output=True, text=True
    )
    took = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert 'CUDA is not available on this machine' in proc.stdout
    assert 'check' not in proc.stdout.split('\n', 1)[-1]  # no table: nothing ran
    assert took < 60, took


def test_runner_pass_fail_timeout_and_table(tmp_path):
    pid_file = tmp_path / 'grandchild.pid'
    hang = (
        'import subprocess\n'
        "p = subprocess.Popen(['sleep', '60'])\n"
        f'open({str(pid_file)!r}, "w").write(str(p.pid))\n'
        'p.wait()\n'
    )
    specs = [
        CheckSpec('fake pass', _fake(PASS), 30),
        CheckSpec('fake fail', _fake("raise RuntimeError('boom: out of memory')"), 30),
        CheckSpec('fake hang', _fake(hang), 5),
        CheckSpec('fake after', _fake(PASS.replace('fake pass', 'fake after')), 30),
    ]
    t0 = time.perf_counter()
    rows = run_checks(specs, total_budget_s=120)
    assert time.perf_counter() - t0 < 60
    by_name = {r['check']: r for r in rows}
    assert [r['check'] for r in rows] == ['fake pass', 'fake fail', 'fake hang', 'fake after']
    assert by_name['fake pass']['status'] == 'ok' and by_name['fake pass']['figure'] == '42 img/s'
    assert by_name['fake fail']['status'] == 'FAIL'
    assert 'RuntimeError: boom: out of memory' in by_name['fake fail']['figure']
    assert by_name['fake hang']['status'] == 'FAIL'
    assert 'timed out after 5 s' in by_name['fake hang']['figure']
    assert 5 <= by_name['fake hang']['seconds'] < 20
    assert by_name['fake after']['status'] == 'ok'  # a failure stops nothing after it
    # The timed-out check's whole process group is gone (torchrun workers would be too).
    _assert_gone(int(pid_file.read_text()), 'of the timed-out check')
    assert exit_status(rows) == 1
    table = format_table(rows).splitlines()
    assert table[0].split() == ['check', 'status', 'seconds', 'key', 'figure']
    assert set(table[1]) == {'-'} and len(table) == 2 + len(rows)
    status_col = table[0].index('status')
    assert [ln[status_col:].split()[0] for ln in table[2:]] == ['ok', 'FAIL', 'FAIL', 'ok']
    assert 'fake pass' in table[2] and table[2].rstrip().endswith('42 img/s')


def test_runner_budget_rows_and_nonzero_exit():
    partial = PASS + '\nsys.exit(3)'
    specs = [
        CheckSpec('partial', _fake(partial), 30),
        CheckSpec('silent', _fake('pass'), 30),
        CheckSpec('late', _fake('time.sleep(30)'), 30),
        CheckSpec('never', _fake(PASS), 30),
    ]
    rows = run_checks(specs, total_budget_s=6, min_start_s=1)
    status = [(r['check'], r['status']) for r in rows]
    # Rows written before a non-zero exit are kept, plus a FAIL naming the exit.
    assert status[:2] == [('fake pass', 'ok'), ('partial', 'FAIL')]
    assert rows[1]['figure'].startswith('exit 3')
    assert status[2] == ('silent', 'FAIL') and 'no result' in rows[2]['figure']
    # 'late' is cut by the total budget; 'never' is not started.
    assert status[3] == ('late', 'FAIL') and 'timed out' in rows[3]['figure']
    assert status[4] == ('never', 'skipped') and 'budget' in rows[4]['figure']
    assert exit_status([make_row('a', 'ok', 1), make_row('b', 'skipped', 0, 'why')]) == 0
    with pytest.raises(ValueError, match='status must be one of'):
        make_row('x', 'passed', 0)


def test_cpu_smoke_runs_the_amp_step_machinery():
    from tpr_mm.engine.optim_wrappers.cpu_amp import cpu_bf16_autocast_available

    if not cpu_bf16_autocast_available():
        pytest.skip('this torch build cannot autocast to bf16 on CPU')
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, 'tools', 'analysis', 'gpu_check.py'), '--cpu-smoke'],
        env=_env(CUDA_VISIBLE_DEVICES=''),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    bf16 = [ln for ln in lines if ln.startswith('amp bf16 clip_sdm_cuhk')]
    fp16 = [ln for ln in lines if ln.startswith('amp fp16 clip_sdm_cuhk')]
    assert len(bf16) == 1 and bf16[0].split()[3] == 'ok', proc.stdout
    assert '2/2 steps applied' in bf16[0] and 'loss' in bf16[0]
    assert len(fp16) == 1 and 'skipped: fp16 AMP needs CUDA' in fp16[0]
    assert lines[-1] == 'gpu_check: no check failed'


def _driver():
    spec = importlib.util.spec_from_file_location(
        'gpu_check_driver', os.path.join(ROOT, 'tools', 'analysis', 'gpu_check.py')
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_check_plan_order_limits_and_absent_configs(tmp_path):
    driver = _driver()
    specs, skipped = driver.build_specs(driver.parse_args([]), str(tmp_path), 1)
    names = [s.name for s in specs]
    present = [n for n, _ in driver.AMP_CONFIGS if os.path.isfile(f'{ROOT}/configs/{n}.py')]
    absent = [n for n, _ in driver.AMP_CONFIGS if n not in present]
    assert {'clip_sdm_cuhk', 'cpcl_cuhk', 'cfine_cuhk', 'lcr2s_student_cuhk'} <= set(present)
    assert names[:6] == [
        'amp clip_sdm_cuhk',
        'ddp nccl x1',
        'metric cuda',
        'faiss gpu clustering',
        'epoch slice clip_sdm_cuhk',
        f'amp {present[1]}',
    ]
    assert names[5:] == [f'amp {n}' for n in present[1:]]
    assert [(r['check'], r['status'], r['figure']) for r in skipped] == [
        (f'amp {n}', 'skipped', 'skipped: config not present') for n in absent
    ]
    ddp = specs[1].argv
    assert ddp[1:4] == ['-m', 'torch.distributed.run', '--standalone']
    assert '--nproc_per_node=1' in ddp and ddp[ddp.index('--child') + 1] == 'ddp'
    assert all('{out}' in s.argv for s in specs)
    assert all(0 < s.timeout_s <= 150 for s in specs)
    assert driver.parse_args([]).budget <= 600
    only, _ = driver.build_specs(driver.parse_args(['--only', 'metric,faiss']), str(tmp_path), 2)
    assert [s.name for s in only] == ['metric cuda', 'faiss gpu clustering']


def test_ctrl_c_ends_the_running_check_and_its_children(tmp_path, monkeypatch):
    """The child runs in its own session (terminal SIGINT misses it): the runner must kill it."""
    from tpr_mm.utils.check_runner import run_check

    pid_file = tmp_path / 'grandchild.pid'
    code = (
        'import subprocess\n'
        "p = subprocess.Popen(['sleep', '60'])\n"
        f'open({str(pid_file)!r}, "w").write(str(p.pid))\n'
        'p.wait()\n'
    )
    real_wait = subprocess.Popen.wait

    def interrupted_wait(self, timeout=None):
        if timeout is None:
            return real_wait(self)
        deadline = time.time() + 30
        while not pid_file.exists() and time.time() < deadline:
            time.sleep(0.05)
        raise KeyboardInterrupt

    monkeypatch.setattr(subprocess.Popen, 'wait', interrupted_wait)
    with pytest.raises(KeyboardInterrupt):
        run_check(CheckSpec('fake hang', _fake(code), 30), 30)
    _assert_gone(int(pid_file.read_text()), 'of the check interrupted by Ctrl-C')
