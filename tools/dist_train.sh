#!/usr/bin/env bash
# Usage: tools/dist_train.sh CONFIG NUM_PROCS [train.py args...]
# Runs the project's .venv python when it exists (tools/resolve_python.sh; TPR_PYTHON overrides).
# Without CUDA, TPRRunner switches the nccl backend to gloo by itself (CPU runs work as is).
set -e
CONFIG=$1
NPROC=$2
shift 2
PORT=${PORT:-29500}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
. "$ROOT/tools/resolve_python.sh"
PYTHONPATH="$ROOT:$PYTHONPATH" exec "$PY" -m torch.distributed.run \
    --nnodes=1 --node_rank=0 --master_addr=127.0.0.1 --master_port="$PORT" \
    --nproc_per_node="$NPROC" "$ROOT/tools/train.py" "$CONFIG" --launcher pytorch "$@"
