#!/usr/bin/env bash
# One idempotent set-up: a virtual environment with torch, the OpenMMLab stack and dada_mm.
# Every package comes at the exact version of requirements/lock.txt (what CI tested), so a new
# machine next month gets the same environment. mmcv 2.1.0 exists on PyPI only as an sdist that
# does not build against torch 2.14 as shipped, so it is patched and built once, and the wheel
# is cached outside the work tree.
#
# DADA_UNLOCKED=1 installs from the loose ranges of requirements.txt instead (what
# tools/update_lock.sh does to refresh the lock).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DADA_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
CACHE="${DADA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dada_mm}"
MMCV_VERSION=2.1.0
LOCK="$ROOT/requirements/lock.txt"
UNLOCKED="${DADA_UNLOCKED:-0}"
STEP="start"

fail() {
  echo "" >&2
  echo "setup FAILED at step: $STEP" >&2
  case "$STEP" in
    venv) echo "  -> check that '$PYTHON -m venv' works (Debian: apt-get install python3-venv)." >&2 ;;
    torch) echo "  -> torch/torchvision pins are in requirements/torch.txt; on other machines install a matching pair by hand." >&2 ;;
    locked) echo "  -> the lock (requirements/lock.txt) is for CPython 3.11 on Linux x86_64; elsewhere run with DADA_UNLOCKED=1, or refresh it with tools/update_lock.sh." >&2 ;;
    mmcv-*) echo "  -> needs gcc/g++ with C++20 and ~3 GB RAM; the log is above. Remove $CACHE/wheels to force a rebuild." >&2 ;;
    *) echo "  -> see the pip output above." >&2 ;;
  esac
  exit 1
}
trap fail ERR

STEP="venv"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtual environment in $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check --no-color)

CONSTRAINTS=()
if [ "$UNLOCKED" != "1" ]; then
  [ -f "$LOCK" ] || { echo "no lock file $LOCK" >&2; exit 1; }
  CONSTRAINTS=(-c "$LOCK")
fi

STEP="torch"
"${PIP[@]}" install -q "${CONSTRAINTS[@]}" -r "$ROOT/requirements/torch.txt"

STEP="mmcv-check"
have_mmcv_ops() {
  "$PY" - <<'PY' 2>/dev/null
import mmcv, mmcv.ops  # noqa: F401
assert mmcv.__version__ == "2.1.0"
PY
}
if ! have_mmcv_ops; then
  # CUDA ops only where a GPU and nvcc are both present (or FORCE_CUDA=1 is set by the user).
  if [ -z "${FORCE_CUDA:-}" ] && command -v nvcc >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    export FORCE_CUDA=1
  fi
  FLAVOUR=cpu; [ "${FORCE_CUDA:-0}" = "1" ] && FLAVOUR=cuda
  WHEELS="$CACHE/wheels/$FLAVOUR"
  mkdir -p "$WHEELS"
  WHEEL="$(ls "$WHEELS"/mmcv-${MMCV_VERSION}-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$WHEEL" ]; then
    STEP="mmcv-build-tools"
    # mmcv's setup.py is built with the setuptools it was written for (<70, with
    # pkg_resources); the locked set then moves to the setuptools torch and mmengine accept.
    "${PIP[@]}" install -q -r "$ROOT/requirements/build.txt"
    STEP="mmcv-download"
    BUILD="$CACHE/build"
    rm -rf "$BUILD"; mkdir -p "$BUILD"
    "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==${MMCV_VERSION}" -d "$BUILD"
    STEP="mmcv-patch"
    tar -xzf "$BUILD/mmcv-${MMCV_VERSION}.tar.gz" -C "$BUILD"
    SRC="$BUILD/mmcv-${MMCV_VERSION}"
    # torch>=2.10 headers require C++20; the sdist hard-codes older standards.
    sed -i -E 's/-std=c\+\+1[47]/-std=c++20/g' "$SRC/setup.py"
    grep -q -- '-std=c++20' "$SRC/setup.py"
    STEP="mmcv-build"
    echo "[setup] building mmcv ${MMCV_VERSION} with $FLAVOUR ops (once per machine; ~25 min on 2 cores)"
    (cd "$SRC" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
       "${PIP[@]}" wheel -q --no-build-isolation --no-deps . -w "$WHEELS")
    WHEEL="$(ls "$WHEELS"/mmcv-${MMCV_VERSION}-*.whl | head -n1)"
    rm -rf "$BUILD"
  fi
  STEP="mmcv-install"
  echo "[setup] installing cached $WHEEL"
  "${PIP[@]}" install -q --no-deps "$WHEEL"
fi

if [ "$UNLOCKED" = "1" ]; then
  STEP="requirements"
  "${PIP[@]}" install -q -r "$ROOT/requirements.txt"
else
  # exactly the lock: every package at its locked version, nothing resolved anew
  STEP="locked"
  "${PIP[@]}" install -q --no-deps -r "$LOCK"
  "${PIP[@]}" check
fi
STEP="dada_mm"
# the build backend of the venv (locked setuptools), not a fresh one from the index
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

STEP="import-check"
"$PY" -c "import mmcv.ops, mmdet, mmpretrain, dada_mm; print('[setup] ok: mmcv', mmcv.__version__, 'mmdet', mmdet.__version__, 'mmpretrain', mmpretrain.__version__)"
