#!/usr/bin/env bash
# One ready check of the search's cost on a CUDA machine (under 8 minutes in all):
#   1. bench_search.py: ResNet-50, 224 px, batch 64, second and first order
#   2. bench_batched_ops.py: batched DADA ops vs kornia vs torchvision v2, batch 128 at 224
#   3. bench_cifar_search.py: the paper's reduced CIFAR-10 search (WRN-40-2, 4,000 generated
#      32x32 images, 20 epochs) against plain training of the same
# and writes ONE results file (JSON; each section `ran` with its numbers, or `failed` /
# `skipped` with the reason; `not_run` lists what could not run) plus a log beside it.
#
#   bash benchmarks/gpu_check.sh                       # CUDA; results: $OUT or work_dirs/gpu_check/
#   bash benchmarks/gpu_check.sh --device cpu --small  # tiny CPU smoke run (< 2 min)
#
# Options: --device cuda|cpu, --small, --out FILE (default $OUT/gpu_check.json, else
# work_dirs/gpu_check/gpu_check.json), --python PY, --wheelhouse DIR, --site DIR,
# --budget SECONDS (all sections), --keep-mmdet.
#
# Python: --python, else .venv/bin/python when no wheelhouse is given and it exists, else
# python3 (a GPU machine's own, with its torch). When that Python lacks mmengine / mmcv /
# mmpretrain, or --wheelhouse is given, the wheels of DIR (default benchmarks/.wheelhouse,
# built by benchmarks/gpu_wheelhouse.sh) are installed with `pip install --target SITE
# --no-index --no-deps` (default SITE: $TMPDIR/dada_gpu_site) and SITE goes first on
# PYTHONPATH, so the machine's torch and torchvision are used. No compiled mmcv ops are
# needed (mmcv-lite); mmdet is hidden from the checks.
#
# With the device tool: carry benchmarks/.wheelhouse (git-ignored) and run
#   bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
REPO=$PWD
DEVICE=cuda SMALL= OUTFILE= PY= WH= SITE="${TMPDIR:-/tmp}/dada_gpu_site" BUDGET= KEEP=
while [ $# -gt 0 ]; do
  case "$1" in
    --device) DEVICE=$2; shift 2 ;;
    --small) SMALL=1; shift ;;
    --out) OUTFILE=$2; shift 2 ;;
    --python) PY=$2; shift 2 ;;
    --wheelhouse) WH=$2; shift 2 ;;
    --site) SITE=$2; shift 2 ;;
    --budget) BUDGET=$2; shift 2 ;;
    --keep-mmdet) KEEP=1; shift ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$OUTFILE" ]; then
  if [ -n "${OUT:-}" ]; then OUTFILE=$OUT/gpu_check.json
  else OUTFILE=$REPO/work_dirs/gpu_check/gpu_check.json; fi
fi
mkdir -p "$(dirname "$OUTFILE")"
has() {  # importable, without importing them (mmpretrain's import alone takes seconds)
  "$PY" -c "import importlib.util as u, sys
sys.exit(any(u.find_spec(m) is None for m in sys.argv[1:]))" "$@" 2>/dev/null
}
if [ -z "$PY" ]; then
  PY=python3
  if [ -z "$WH" ] && [ -x .venv/bin/python ]; then
    PY=$REPO/.venv/bin/python
    has torch || PY=python3  # a .venv from another machine
  fi
fi
if ! command -v "$PY" >/dev/null 2>&1; then echo "gpu_check.sh: no Python '$PY'" >&2; exit 2; fi
if ! has torch; then
  echo "gpu_check.sh: $PY has no torch: give --python PY of the machine's torch" >&2; exit 2
fi

INFO=$(mktemp)
trap 'rm -f "$INFO"' EXIT
echo '{}' > "$INFO"
if [ -z "$WH" ] && ! has mmengine mmcv mmpretrain; then
  if [ -d benchmarks/.wheelhouse ]; then WH=benchmarks/.wheelhouse
  else
    echo "gpu_check.sh: $PY lacks mmengine/mmcv/mmpretrain and there is no wheelhouse:" \
         "build one with 'bash benchmarks/gpu_wheelhouse.sh' (here, with internet) and" \
         "carry benchmarks/.wheelhouse" >&2
    exit 2
  fi
fi
if [ -n "$WH" ]; then
  t0=$(date +%s)
  echo "[gpu_check] installing $(ls "$WH"/*.whl | wc -l) wheels from $WH into $SITE"
  rm -rf "$SITE" && mkdir -p "$SITE"
  PIPI=("$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade
        --disable-pip-version-check --target "$SITE")
  FAILED=()
  if ! "${PIPI[@]}" "$WH"/*.whl >/dev/null 2>&1; then
    # one at a time: a wheel this Python cannot take (another CPython) is left out
    for w in "$WH"/*.whl; do
      "${PIPI[@]}" "$w" >/dev/null 2>&1 || FAILED+=("$(basename "$w")")
    done
  fi
  for f in "${FAILED[@]}"; do echo "[gpu_check] NOT INSTALLED: $f" >&2; done
  "$PY" - "$INFO" "$WH" "$SITE" "$(( $(date +%s) - t0 ))" "${FAILED[@]}" <<'EOF'
import json, os, sys
info, wh, site, secs, failed = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
wheels = sorted(f for f in os.listdir(wh) if f.endswith('.whl'))
size = sum(os.path.getsize(os.path.join(wh, f)) for f in wheels)
json.dump(dict(wheelhouse=os.path.abspath(wh), site=site, wheels=wheels,
               wheelhouse_mib=round(size / 2 ** 20, 2), seconds=int(secs),
               not_installed=failed), open(info, 'w'), indent=1)
EOF
  export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg

ARGS=(--device "$DEVICE" --out "$OUTFILE" --install-info "$INFO")
[ -n "$SMALL" ] && ARGS+=(--small)
[ -n "$BUDGET" ] && ARGS+=(--budget "$BUDGET")
[ -n "$KEEP" ] && ARGS+=(--keep-mmdet)
"$PY" benchmarks/gpu_check.py "${ARGS[@]}"
