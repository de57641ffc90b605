#!/usr/bin/env bash
# Build the wheelhouse that benchmarks/gpu_check.sh installs from on a GPU machine that has
# its own Python 3.12 + torch + torchvision and no internet (run this here, with internet).
#
#   bash benchmarks/gpu_wheelhouse.sh [DEST]        # DEST: benchmarks/.wheelhouse (git-ignored)
#
# Only what such a machine lacks: the OpenMMLab stack as pure-Python wheels (mmcv WITHOUT
# compiled ops, built here from the mmcv 2.1.0 source archive as `mmcv-lite`: the search
# and the classification path import no mmcv.ops), their small pure dependencies, and
# kornia (a benchmark peer; its helper kornia-rs is the one binary wheel). numpy, Pillow,
# OpenCV (headless), matplotlib, PyYAML, rich, einops, packaging, zipp, click and markdown
# are expected on the machine (they are in its image; see docs/benchmarks.md). Pins follow
# requirements.txt / requirements/benchmarks.txt. Prints each wheel's size and the total:
# the device tool carries at most 64 MiB together with the work tree.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-benchmarks/.wheelhouse}
PY=${PYTHON:-.venv/bin/python}
PYVER=${GPU_PYTHON_VERSION:-3.12}
mkdir -p "$DEST"
# pip's notes about index locations configured on this machine are noise here
quiet() { grep -v -e "^WARNING: Location " -e "produced metadata for project name" || true; }

PURE=(
  mmengine==0.10.7 mmpretrain==1.2.0
  addict==2.4.0 yapf==0.43.0 platformdirs==4.14.9 termcolor==3.3.0
  mat4py==0.6.0 modelindex==0.0.2 model-index==0.1.11 ordered-set==4.1.0
  importlib-metadata==10.2.0 lazy-importer==0.1.0
  # mmengine's Config resolves `mmpretrain::` bases through pkg_resources (gone in 81)
  setuptools==80.10.2
  kornia==0.9.0
)
BINARY=(kornia-rs==0.2.0)

echo "== pure wheels for Python $PYVER (no dependencies resolved: each one is named)"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
  --implementation py --abi none --platform any -d "$DEST" "${PURE[@]}" 2>&1 | quiet
echo "== binary wheels for CPython $PYVER x86-64"
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$DEST" "${BINARY[@]}" 2>&1 | quiet
if ! ls "$DEST"/mmcv_lite-2.1.0-*.whl >/dev/null 2>&1; then
  echo "== mmcv 2.1.0 without compiled ops (MMCV_WITH_OPS=0: a py3-none-any 'mmcv-lite')"
  SRC=$(mktemp -d)
  trap 'rm -rf "$SRC"' EXIT
  "$PY" -m pip download -q --no-deps --no-build-isolation --no-binary :all: -d "$SRC" mmcv==2.1.0 2>&1 | quiet
  # from the archive's path: built without ops, it names itself mmcv-lite
  MMCV_WITH_OPS=0 "$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$DEST" \
    "$SRC"/mmcv-2.1.0.tar.gz 2>&1 | quiet
fi
echo "== $DEST"
ls -l "$DEST"/*.whl | awk '{printf "%9.2f MiB  %s\n", $5 / 1048576, $NF}'
du -cb "$DEST"/*.whl | tail -1 | awk '{printf "total %.2f MiB\n", $1 / 1048576}'
