#!/usr/bin/env bash
# The evidence matrix of docs/evidence.md: every method on the medium synthetic benchmark,
# fine-tuned from the pretrained stand-in, over SEEDS; mean ± 95 % CI and paired differences.
#
#   nohup bash tools/analysis/evidence_matrix.sh > evidence.out 2>&1 &
#   SEEDS="0 1 2 3 4" OUT=work_dirs/evidence PY=.venv/bin/python bash tools/analysis/evidence_matrix.sh
#
# Resumable: run_matrix.py skips finished cells and resumes interrupted ones, and the stand-in is
# reused when cached, so after an interruption simply start the script again.
set -euo pipefail
PY=${PY:-python}
SEEDS=${SEEDS:-"0 1 2 3 4"}
OUT=${OUT:-work_dirs/evidence}
STANDIN=work_dirs/pretrained_standin # configs/_base_/evidence_medium.py loads from here
E=configs/evidence
read -r -a SEED_LIST <<< "$SEEDS"
cfgs() { for n in "$@"; do printf '%s\n' "$E/$n.py"; done; }

# 1. The pretrained stand-in (cached) and its zero-shot test on the medium benchmark.
$PY tools/dataset_converters/make_pretrained_standin.py configs/clip_itc_pretrain_standin.py \
    --out "$STANDIN" --zero-shot-config "$E/clip_sdm_medium.py"

# 2. Every single-stage config and the LCR²S teacher, all seeds.
SINGLE=(clip_sdm_medium clip_itc_weak_medium cpcl_medium cpcl_no_pmm_medium
    cpcl_no_cross_medium cpcl_no_oplm_medium cfine_medium cfine_no_cfr_medium
    cfine_no_fcd_medium cfine_no_mgf_medium lcr2s_teacher_medium lcr2s_student_nokd_medium)
mapfile -t SINGLE_CFGS < <(cfgs "${SINGLE[@]}")
$PY tools/analysis/run_matrix.py "${SINGLE_CFGS[@]}" --seeds "${SEED_LIST[@]}" \
    --out-dir "$OUT" --baseline clip_sdm_medium

# 3. The LCR²S student of each seed distils from the teacher of the same seed.
for s in "${SEED_LIST[@]}"; do
    $PY tools/analysis/run_matrix.py "$E/lcr2s_student_medium.py" --seeds "$s" \
        --out-dir "$OUT" --cfg-options "model.teacher_checkpoint=$OUT/lcr2s_teacher_medium/seed$s"
done

# 4. Reports: each comparison against its own baseline, from the finished cells.
report() { # baseline dir-name configs...
    local base=$1 name=$2
    shift 2
    local dir="$OUT/reports/$name"
    mkdir -p "$dir"
    for n in "$@"; do ln -sfn "$(realpath -m "$OUT/$n")" "$dir/$n"; done
    mapfile -t rc < <(cfgs "$@")
    $PY tools/analysis/run_matrix.py "${rc[@]}" --seeds "${SEED_LIST[@]}" --out-dir "$dir" \
        --baseline "$base" --report-only
}
report clip_sdm_medium vs_supervised "${SINGLE[@]}" lcr2s_student_medium
report clip_itc_weak_medium cpcl clip_itc_weak_medium cpcl_medium cpcl_no_pmm_medium \
    cpcl_no_cross_medium cpcl_no_oplm_medium
report cfine_medium cfine cfine_medium cfine_no_cfr_medium cfine_no_fcd_medium cfine_no_mgf_medium
report lcr2s_student_nokd_medium lcr2s lcr2s_student_nokd_medium lcr2s_student_medium \
    lcr2s_teacher_medium
echo "reports in $OUT/reports/*/matrix.md"
