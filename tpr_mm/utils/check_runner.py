# Copyright (c) tpr_mm contributors. All rights reserved.
"""Run named checks in child processes under per-check and total time limits.

Used by ``tools/analysis/gpu_check.py``. Each check is a command line; the
child writes its result rows (JSON) to the file named by ``{out}`` in its
arguments. A check that crashes, exits non-zero or outlives its limit is a
FAIL row; it never stops the checks after it. A child runs in its own
process group, so a timed-out ``torchrun`` is killed with all its workers.
"""

import json
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

STATUSES = ('ok', 'FAIL', 'skipped')
OUT_PLACEHOLDER = '{out}'


@dataclass
class CheckSpec:
    """One check: a command whose arguments contain ``{out}``.

    Args:
        name (str): Row name when the child reports nothing itself.
        argv (list[str]): Command; ``{out}`` is replaced by the result path.
        timeout_s (float): Own limit in seconds (cut to what the total
            budget has left).
        env (dict, optional): Extra environment variables of the child.
    """

    name: str
    argv: List[str]
    timeout_s: float
    env: Dict[str, str] = field(default_factory=dict)


def make_row(check: str, status: str, seconds: float, figure: str = '') -> dict:
    """A result row; ``status`` is ``'ok'``, ``'FAIL'`` or ``'skipped'``."""
    if status not in STATUSES:
        raise ValueError(f'status must be one of {STATUSES}, got {status!r}')
    return dict(check=check, status=status, seconds=round(float(seconds), 1), figure=figure)


def write_rows(path: str, rows: Sequence[dict]) -> None:
    """Child side: write the result rows (replaces the file atomically)."""
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(list(rows), f)
    os.replace(tmp, path)


def _read_rows(path: str) -> List[dict]:
    try:
        with open(path) as f:
            rows = json.load(f)
    except (OSError, ValueError):
        return []
    return [r for r in rows if isinstance(r, dict) and r.get('status') in STATUSES]


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:200] if lines else ''


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_check(spec: CheckSpec, timeout_s: float) -> List[dict]:
    """Run one check; always returns at least one row."""
    with tempfile.TemporaryDirectory(prefix='tpr_check_') as tmp:
        out = os.path.join(tmp, 'rows.json')
        log = os.path.join(tmp, 'log.txt')
        argv = [a.replace(OUT_PLACEHOLDER, out) for a in spec.argv]
        env = dict(os.environ, **spec.env)
        t0 = time.perf_counter()
        with open(log, 'w') as log_f:
            proc = subprocess.Popen(
                argv, stdout=log_f, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
            try:
                rc = proc.wait(timeout=timeout_s)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                rc, timed_out = proc.wait(), True
            except BaseException:
                # Ctrl-C (or any error) here: the child runs in its own session, so the
                # terminal's SIGINT never reached it; end it before its folder goes away.
                _kill_group(proc)
                proc.wait()
                raise
        seconds = time.perf_counter() - t0
        rows = _read_rows(out)
        with open(log, errors='replace') as f:
            tail = _last_line(f.read())
    if timed_out:
        done = ', '.join(f'{r["check"]} {r["status"]}' for r in rows)
        reason = f'timed out after {timeout_s:.0f} s' + (f' (done: {done})' if done else '')
        return rows + [make_row(spec.name, 'FAIL', seconds, reason)]
    if not rows:
        return [make_row(spec.name, 'FAIL', seconds, f'exit {rc}, no result: {tail}')]
    if rc != 0 and not any(r['status'] == 'FAIL' for r in rows):
        rows.append(make_row(spec.name, 'FAIL', seconds, f'exit {rc}: {tail}'))
    return rows


def run_checks(
    specs: Sequence[CheckSpec],
    total_budget_s: float,
    min_start_s: float = 5.0,
    on_rows: Optional[Callable[[List[dict]], None]] = None,
) -> List[dict]:
    """Run the checks in order within ``total_budget_s`` seconds.

    Each check gets ``min(spec.timeout_s, time left)``; when less than
    ``min_start_s`` is left, the remaining checks are ``skipped`` rows.

    Args:
        specs (Sequence[CheckSpec]): Checks in priority order.
        total_budget_s (float): Wall-clock limit of all checks together.
        min_start_s (float): Do not start a check with less time left.
        on_rows (callable, optional): Called with each check's rows as they
            arrive (progress output).

    Returns:
        list[dict]: All rows, see :func:`make_row`.
    """
    deadline = time.perf_counter() + total_budget_s
    rows: List[dict] = []
    for spec in specs:
        left = deadline - time.perf_counter()
        if left < min_start_s:
            new = [make_row(spec.name, 'skipped', 0.0, 'skipped: total time budget spent')]
        else:
            new = run_check(spec, min(spec.timeout_s, left))
        rows.extend(new)
        if on_rows is not None:
            on_rows(new)
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """One fixed-width table: check | status | seconds | key figure."""
    head = ('check', 'status', 'seconds', 'key figure')
    body = [(r['check'], r['status'], f'{r["seconds"]:.1f}', r.get('figure', '')) for r in rows]
    widths = [max(len(str(x[i])) for x in [head] + body) for i in range(3)]
    lines = []
    for cells in [head] + body:
        left = '  '.join(str(c).ljust(w) for c, w in zip(cells[:2], widths[:2]))
        lines.append(f'{left}  {str(cells[2]).rjust(widths[2])}  {cells[3]}'.rstrip())
    lines.insert(1, '-' * max(len(ln) for ln in lines))
    return '\n'.join(lines)


def exit_status(rows: Sequence[dict]) -> int:
    """1 if any row is a FAIL, else 0."""
    return int(any(r['status'] == 'FAIL' for r in rows))
