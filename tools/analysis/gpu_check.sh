#!/usr/bin/env bash
# One prepared GPU check (<= 10 min): AMP fp16/bf16 steps of every method's real config at
# real size with random weights, DDP over all visible GPUs with NCCL, faiss GPU kNN in the
# clustering, the metric on GPU and measured images/s of a training slice; one table.
# Exits 0 with a message where CUDA is absent. Not part of `make test`.
#   bash tools/analysis/gpu_check.sh [DATA_ROOT]   (a size-true set; generated when missing)
set -u
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python}
DATA_ROOT=${1:-data/cuhk_size}
export PYTHONPATH=${PYTHONPATH:-$PWD}
NGPU=$($PY -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)' 2>/dev/null || echo 0)
if [ "$NGPU" = "0" ]; then
  echo "gpu_check: CUDA is not available on this machine; nothing to check (run it on a GPU machine)."
  exit 0
fi
if [ ! -f "$DATA_ROOT/size_true_meta.json" ]; then
  echo "gpu_check: generating the size-true set in $DATA_ROOT"
  $PY tools/dataset_converters/make_synthetic.py --preset cuhk-size --out "$DATA_ROOT" --workers "$(nproc)" || exit 1
fi
mkdir -p work_dirs
CONFIGS="configs/clip_sdm_cuhk.py configs/cpcl_cuhk.py configs/cfine_cuhk.py configs/cfine_bert_published_cuhk.py configs/lcr2s_teacher_cuhk.py configs/lcr2s_student_cuhk.py"
DDP="ok"
timeout 240 torchrun --nproc_per_node="$NGPU" tools/train.py configs/clip_sdm_cuhk.py --launcher pytorch \
  --work-dir work_dirs/gpu_check_ddp \
  --cfg-options model.backbone.pretrained=None train_dataloader.dataset.data_root="$DATA_ROOT" \
  val_dataloader.dataset.data_root="$DATA_ROOT" test_dataloader.dataset.data_root="$DATA_ROOT" \
  > work_dirs/gpu_check_ddp.log 2>&1
RC=$?
# 124: stopped by the time limit while training, i.e. NCCL init and DDP steps ran
if [ $RC -ne 0 ] && [ $RC -ne 124 ]; then DDP="FAILED rc=$RC (work_dirs/gpu_check_ddp.log)"; fi
if [ $RC -eq 124 ] && ! grep -q "Epoch(train)" work_dirs/gpu_check_ddp.log; then DDP="no training iteration within 240 s"; fi
timeout 330 $PY - "$DATA_ROOT" $CONFIGS <<'PYEOF'
import sys
from tpr_mm.utils.gpu_check import format_rows, run_checks
data_root, configs = sys.argv[1], sys.argv[2:]
print(format_rows(run_checks(configs, data_root, 'configs/clip_sdm_cuhk.py')))
PYEOF
echo "DDP over $NGPU GPU(s) with NCCL (tools/train.py, 240 s slice): $DDP"
