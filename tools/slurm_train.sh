#!/usr/bin/env bash
# Slurm:  [GPUS=8] [GPUS_PER_NODE=8] [CPUS_PER_TASK=N] tools/slurm_train.sh PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py args]
#
# * Every task runs the project's interpreter (.venv/bin/python, or $PYTHON), not whatever
#   `python` the compute node's PATH has.
# * MASTER_PORT is per job (10000 + SLURM_JOB_ID % 50000, computed inside the job) unless
#   given: two jobs sharing a node no longer clash on mmengine's default 29500.
# * CPUS_PER_TASK defaults to the config's train_dataloader.num_workers + 1 (the workers plus
#   the training process), at least 2.
# CPU runs: tools/train.py re-executes itself once with glibc's malloc thresholds raised
# (MALLOC_MMAP_THRESHOLD_=32 MiB, MALLOC_TRIM_THRESHOLD_=1 GiB; faster, docs/benchmarks.md);
# KD_MALLOC=default keeps glibc's defaults (tools/allocator_env.py).
set -euo pipefail
if [[ $# -lt 3 ]]; then echo "usage: $0 PARTITION JOB_NAME CONFIG [WORK_DIR] [train.py args]" >&2; exit 2; fi
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=${4:-work_dirs/$(basename "${CONFIG%.*}")}
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
SRUN_ARGS=${SRUN_ARGS:-""}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-$( [[ -x "$DIR/../.venv/bin/python" ]] && echo "$DIR/../.venv/bin/python" || echo python )}"
PY="$(command -v "$PY")"  # absolute: the compute node may have another PATH
if [[ -z "${CPUS_PER_TASK:-}" ]]; then
    CPUS_PER_TASK=$(PYTHONPATH="$DIR/.." "$PY" -c "
import sys
from kd_transfer.launch import cpus_per_task
print(cpus_per_task(sys.argv[1]))" "$CONFIG")
fi
export PYTHONPATH="$DIR/..${PYTHONPATH:+:$PYTHONPATH}"
# shellcheck disable=SC2086,SC2016
srun -p "$PARTITION" --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" --kill-on-bad-exit=1 $SRUN_ARGS \
    bash -c 'export MASTER_PORT=${MASTER_PORT:-$((10000 + SLURM_JOB_ID % 50000))}; exec "$@"' \
    slurm_task "$PY" -u "$DIR/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher slurm "${@:5}"
