#!/usr/bin/env bash
# Multi-process training with torchrun:  tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR, PORT in the environment of every node.
# Without a visible GPU the run stops, unless KD_DEVICE=cpu asks for GPUS CPU processes on
# the gloo backend (kd_transfer/launch.py).
# CPU runs: tools/train.py re-executes itself once with glibc's malloc thresholds raised
# (MALLOC_MMAP_THRESHOLD_=32 MiB, MALLOC_TRIM_THRESHOLD_=1 GiB; faster, docs/benchmarks.md);
# KD_MALLOC=default keeps glibc's defaults (tools/allocator_env.py).
set -euo pipefail
if [[ $# -lt 2 ]]; then echo "usage: $0 CONFIG GPUS [train.py args]" >&2; exit 2; fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
if [[ "$NNODES" -gt 1 && -z "${MASTER_ADDR:-}" ]]; then
    # torchrun would wait forever for a rendezvous on 127.0.0.1 of each node
    echo "$0: NNODES=$NNODES needs MASTER_ADDR (the address of node 0, the same on every node)" >&2
    exit 2
fi
MASTER_ADDR=${MASTER_ADDR:-127.0.0.1}
DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PYTHON:-$( [[ -x "$DIR/../.venv/bin/python" ]] && echo "$DIR/../.venv/bin/python" || echo python )}"
if [[ "$NODE_RANK" == 0 ]]; then
    # node 0 listens on PORT: a busy port would end in torchrun's EADDRINUSE traceback
    "$PY" "$DIR/../kd_transfer/ports.py" "$PORT" || {  # stdlib only: no package import
        echo "$0: nothing was started" >&2; exit 2; }
fi
PYTHONPATH="$DIR/..${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$DIR/train.py" "$CONFIG" --launcher pytorch "${@:3}"
