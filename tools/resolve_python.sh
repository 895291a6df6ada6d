# Sourced by tools/dist_*.sh: sets PY to the interpreter the launchers run.
# Order: $TPR_PYTHON if set; else the project's environment <repo>/.venv/bin/python (created by
# `make install` / `make demo`) when it exists; else the caller's `python` on PATH.
# Expects ROOT (the repository root).
if [ -n "${TPR_PYTHON:-}" ]; then
    PY=$TPR_PYTHON
elif [ -x "$ROOT/.venv/bin/python" ]; then
    PY=$ROOT/.venv/bin/python
else
    PY=python
fi
