#!/usr/bin/env bash
# Usage: tools/analysis/gpu_check.sh [--budget SECONDS] [--only amp,ddp,metric,faiss,slice] [--cpu-smoke]
# The prepared GPU check (docs/performance.md): AMP steps of every method's real config, DDP with
# NCCL, faiss GPU clustering, the metric on CUDA and a measured epoch slice, in <= 10 minutes, one
# table. Exits 0 with a message when CUDA is absent; 1 when any check FAILs.
# Runs the project's .venv python when it exists (tools/resolve_python.sh; TPR_PYTHON overrides).
set -e
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
. "$ROOT/tools/resolve_python.sh"
PYTHONPATH="$ROOT:$PYTHONPATH" exec "$PY" "$ROOT/tools/analysis/gpu_check.py" "$@"
