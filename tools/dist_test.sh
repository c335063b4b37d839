#!/usr/bin/env bash
# Multi-process evaluation:  tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
set -euo pipefail
if [[ $# -lt 3 ]]; then echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py args]" >&2; exit 2; fi
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
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
    "$DIR/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
