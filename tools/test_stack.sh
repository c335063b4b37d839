#!/usr/bin/env bash
# Stack check for another torch:   make test-stack TORCH=2.1.2   (or: tools/test_stack.sh 2.1.2)
#
# Builds a side environment .venv-torch<VERSION> the way the README's GPU-node recipe does
# (the node's torch installed first, then tools/setup_env.sh, which keeps it, installs a numpy
# that torch was built for and builds mmcv against it, cached in ~/.cache/kd_transfer/wheels),
# then runs the tests that depend on torch's behaviour: the stack (mmcv ops, an mmdet and an
# mmseg step), safe loading, resume, fault tests of the GPU conditions, distributed, the
# ReviewKD hook and the teacher's memory format (Distiller). Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TORCH="${1:?usage: $0 TORCH_VERSION [pytest args]}"; shift
VENV="$ROOT/.venv-torch$TORCH"
START=$(date +%s)
log() { printf '[test-stack %4ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    "${KD_PYTHON:-$(command -v python3.11 || command -v python3)}" -m venv "$VENV"
fi
# the node's torch first (on a GPU node: the CUDA build from the cluster's index)
KD_VENV="$VENV" KD_TORCH="$TORCH" bash "$ROOT/tools/setup_env.sh"
log "running the torch-dependent tests on $("$VENV/bin/python" -c 'import torch, numpy; print(f"torch {torch.__version__}, numpy {numpy.__version__}")')"
cd "$ROOT"
PYTHONPATH="$ROOT" "$VENV/bin/python" -m pytest \
    tests/test_stack tests/test_fileio.py tests/test_safe_load.py tests/test_safe_load_range.py \
    tests/test_resume.py tests/test_gpu_conditions.py tests/test_tools/test_distributed.py \
    tests/test_hooks/test_finite_loss.py tests/test_hooks/test_reviewkd_hook.py \
    tests/test_models/test_teacher_format.py tests/test_models/test_distiller.py "$@"
log "done"
