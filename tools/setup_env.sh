#!/usr/bin/env bash
# One-shot, idempotent set-up of kd_transfer's environment.
#
#   tools/setup_env.sh            # creates ./.venv (if missing) and installs everything
#
# Environment knobs:
#   KD_VENV           virtualenv to use/create            (default: <repo>/.venv)
#   KD_PYTHON         interpreter used to create it       (default: python3.11, else python3)
#   KD_CACHE          cache for the built mmcv wheel      (default: ~/.cache/kd_transfer)
#   MAX_JOBS          parallel compile jobs for mmcv ops  (default: 2)
#   KD_TORCH          torch version to install when none imports (default: requirements.txt's
#                     pin); its torchvision is looked up below. `make test-stack TORCH=2.1.2`
#                     uses it for a side environment.
#
# The script only does what is missing: an existing torch is kept (GPU nodes install their
# CUDA torch first), an mmcv whose compiled ops import is kept (nothing is built), a cached
# mmcv wheel built for the same torch is reused, and a stamp makes a second call instant.
# Supported torch: 2.1 ... 2.14 (pyproject.toml). A torch outside that range stops the script.
# torch < 2.3 is built against numpy 1.x (as are mmcv's prebuilt wheels for it): numpy and
# opencv are then pinned to numpy-1 releases instead of requirements.txt's numpy 2 pins.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${KD_VENV:-$ROOT/.venv}"
CACHE="${KD_CACHE:-$HOME/.cache/kd_transfer}"
MMCV_VERSION=2.1.0
MMCV_SHA256=d387bcab66b467479b6660310e23746cfc79c6e57acf04094680adb499a5cd3f
START=$(date +%s)

log() { printf '[setup %4ss] %s\n' "$(( $(date +%s) - START ))" "$*"; }

# --- the stamp: skip everything when nothing relevant changed since the last success -------
STAMP="$VENV/.kd_transfer_setup"
WANT="$( (cat "$ROOT/requirements.txt" "$ROOT/tools/setup_env.sh" "$ROOT/pyproject.toml"; \
          echo "${KD_TORCH:-}") | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] && "$VENV/bin/python" -c "import kd_transfer" 2>/dev/null; then
    log "environment in $VENV is up to date"
    exit 0
fi

# --- 1. the virtualenv ---------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
    PYBIN="${KD_PYTHON:-$(command -v python3.11 || command -v python3)}"
    log "creating $VENV with $PYBIN"
    "$PYBIN" -m venv "$VENV"
fi
PY="$VENV/bin/python"
# --no-warn-conflicts: torch 2.14 declares setuptools>=77 (for its optional C++ JIT builds)
# while mmcv's build and openmim need setuptools<70 (see step 3); nothing kd_transfer runs
# needs the newer one, so pip's conflict warning is noise here.
pip_install() {
    # machines whose pip config lists local indexes print one "Location ... is ignored"
    # warning per package: keep the output readable, keep pip's exit status
    "$PY" -m pip install --disable-pip-version-check --no-warn-conflicts -q "$@" 2>&1 \
        | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
    return "${PIPESTATUS[0]}"
}
PIP=(pip_install)

# --- 2. torch: keep an existing one (e.g. a CUDA build on a GPU node) ----------------------
# torchvision release series of each supported torch minor version (pip picks the patch
# release whose torch pin matches)
torchvision_for() {
    case "$1" in
        2.1.*) echo "0.16.*" ;; 2.2.*) echo "0.17.*" ;; 2.3.*) echo "0.18.*" ;; 2.4.*) echo "0.19.*" ;;
        2.5.*) echo "0.20.*" ;; 2.6.*) echo "0.21.*" ;; 2.7.*) echo "0.22.*" ;; 2.8.*) echo "0.23.*" ;;
        2.9.*) echo "0.24.*" ;; 2.10.*) echo "0.25.*" ;; 2.11.*) echo "0.26.*" ;; 2.12.*) echo "0.27.*" ;;
        2.13.*) echo "0.28.*" ;; 2.14.*) echo "0.29.*" ;;
        *) log "torch $1 is outside the supported range 2.1 ... 2.14"; exit 1 ;;
    esac
}
if "$PY" -c "import torch, torchvision" 2>/dev/null; then
    log "keeping installed torch $("$PY" -c 'import torch; print(torch.__version__)')"
elif [[ -n "${KD_TORCH:-}" ]]; then
    log "installing torch==$KD_TORCH torchvision==$(torchvision_for "$KD_TORCH")"
    "${PIP[@]}" "torch==$KD_TORCH" "torchvision==$(torchvision_for "$KD_TORCH")"
else
    TORCH_PINS=$(grep -E '^(torch|torchvision)==' "$ROOT/requirements.txt")
    log "installing $(echo $TORCH_PINS)"
    # shellcheck disable=SC2086
    "${PIP[@]}" $TORCH_PINS
fi
TORCH_VERSION=$("$PY" -c "import torch; print(torch.__version__)")
# the declared range (pyproject.toml); one clear message instead of a failure deep in a build
if ! "$PY" -c "import sys, torch; v = tuple(int(x) for x in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(not ((2, 1) <= v <= (2, 14)))"; then
    log "torch $TORCH_VERSION is outside the range kd_transfer supports (2.1 ... 2.14): install a torch in that range first (see README, GPU nodes)"
    exit 1
fi
# numpy-1 builds of torch (< 2.3) and of mmcv for them: keep numpy (and opencv, whose recent
# wheels need numpy 2) on numpy-1 releases; everything else in requirements.txt takes both.
REQS=$(mktemp)
trap 'rm -f "$REQS"' EXIT
if "$PY" -c "import sys, torch; v = tuple(int(x) for x in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(v >= (2, 3))"; then
    log "torch $TORCH_VERSION is built for numpy 1.x: installing numpy==1.26.4, opencv-python==4.10.0.84"
    sed -e 's/^numpy==.*/numpy==1.26.4/' -e 's/^opencv-python==.*/opencv-python==4.10.0.84/' \
        "$ROOT/requirements.txt" > "$REQS"
else
    cp "$ROOT/requirements.txt" "$REQS"
fi

# --- 3. build prerequisites ----------------------------------------------------------------
# setuptools<70: mmcv 2.1.0's setup.py and openmim 0.3.9 do `import pkg_resources`, which
# newer setuptools no longer ships.  mmcv's setup.py also imports cv2, mmengine and psutil
# at build time, so they must be in the venv before we build it without isolation.
log "installing build prerequisites"
"${PIP[@]}" -r <(grep -E '^(setuptools|wheel|ninja|numpy|opencv-python|mmengine|psutil|packaging|addict|yapf|rich|termcolor)[=<>]' "$REQS")

# --- 4. mmcv with compiled ops -------------------------------------------------------------
mmcv_ok() { "$PY" -c "import mmcv, sys; from mmcv.ops import nms, RoIAlign; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; }
if mmcv_ok; then
    log "mmcv $MMCV_VERSION with ops already imports: nothing to build"
else
    WHEELS="$CACHE/wheels/torch-${TORCH_VERSION//+/_}-$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
    mkdir -p "$WHEELS"
    WHEEL=$(ls "$WHEELS"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)
    if [[ -z "$WHEEL" ]]; then
        BUILD=$(mktemp -d)
        trap 'rm -rf "$BUILD" "$REQS"' EXIT
        log "building mmcv $MMCV_VERSION with CPU ops from source (about 10 minutes on 2 cores)"
        # mmcv 2.1.0 exists on PyPI only as an sdist.  `pip download` cannot fetch it (it runs
        # the broken setup.py to read metadata), so it is fetched from the index directly and
        # checked against its published sha256.
        "$PY" - "$BUILD" "$MMCV_VERSION" "$MMCV_SHA256" <<'PYEOF'
import hashlib, json, sys, urllib.request
out, version, sha = sys.argv[1:]
name = f'mmcv-{version}.tar.gz'
req = urllib.request.Request('https://pypi.org/simple/mmcv/',
                             headers={'Accept': 'application/vnd.pypi.simple.v1+json'})
files = {f['filename']: f['url'] for f in json.load(urllib.request.urlopen(req))['files']}
data = urllib.request.urlopen(files[name]).read()
if hashlib.sha256(data).hexdigest() != sha:
    sys.exit(f'{name}: sha256 mismatch, refusing to build it')
open(f'{out}/{name}', 'wb').write(data)
PYEOF
        tar xzf "$BUILD/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD"
        SRC="$BUILD/mmcv-$MMCV_VERSION"
        # torch >= 2.10 headers `#error` unless compiled as C++20, but mmcv's setup.py
        # hard-codes -std=c++14 / -std=c++17.  Patch the unpacked copy only when needed.
        if "$PY" -c "import sys, torch; v = tuple(int(x) for x in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(v < (2, 10))"; then
            log "torch $TORCH_VERSION needs C++20: patching mmcv's setup.py compile flags"
            sed -i -e 's/-std=c++14/-std=c++20/g' -e 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
        fi
        # FORCE_CUDA=0 unless a GPU toolchain is usable: the CPU ops are what CI and laptops need.
        if "$PY" -c "import sys, torch; sys.exit(not torch.cuda.is_available())"; then CUDA=1; else CUDA=0; fi
        ( cd "$SRC" && MMCV_WITH_OPS=1 FORCE_CUDA="${FORCE_CUDA:-$CUDA}" MAX_JOBS="${MAX_JOBS:-2}" \
            "$PY" -m pip wheel --no-build-isolation --no-deps -w "$BUILD/dist" . > "$BUILD/build.log" 2>&1 ) || {
            tail -n 40 "$BUILD/build.log"; log "mmcv build failed (log above)"; exit 1; }
        BUILT=$(ls "$BUILD"/dist/mmcv-*.whl)
        # atomic publish into the cache: a killed build never leaves a half-written wheel
        cp "$BUILT" "$WHEELS/.$(basename "$BUILT").tmp" && mv "$WHEELS/.$(basename "$BUILT").tmp" "$WHEELS/$(basename "$BUILT")"
        WHEEL="$WHEELS/$(basename "$BUILT")"
        log "cached $WHEEL"
    else
        log "using cached $WHEEL"
    fi
    "${PIP[@]}" --no-deps "$WHEEL"
    mmcv_ok || { log "mmcv installed but its ops do not import"; exit 1; }
fi

# --- 5. the rest of the pinned stack and kd_transfer itself --------------------------------
log "installing the pinned stack (requirements.txt)"
# torch / torchvision lines are left out: step 2 already chose them.
"${PIP[@]}" -r <(grep -vE '^(torch|torchvision)==' "$REQS")
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT"

"$PY" -c "import kd_transfer, mmdet, mmseg, mmcv, mmengine, torch; from mmcv.ops import nms, RoIAlign
print(f'torch {torch.__version__}  mmengine {mmengine.__version__}  mmcv {mmcv.__version__}  mmdet {mmdet.__version__}  mmseg {mmseg.__version__}')"
echo "$WANT" > "$STAMP"
log "done: activate with 'source $VENV/bin/activate'"
