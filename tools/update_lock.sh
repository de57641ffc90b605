#!/usr/bin/env bash
# Refresh requirements/lock.txt: install the loose ranges of requirements.txt into a fresh
# virtual environment (the same steps as tools/setup_env.sh) and record the exact version of
# every package it got. Run the tests against the new lock before committing it:
#
#   bash tools/update_lock.sh && rm -rf .venv && make test
#
# The lock is for CPython 3.11 on Linux x86_64 (the CI machine); torch's CUDA libraries on
# that platform are part of it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
DADA_UNLOCKED=1 DADA_VENV="$TMP/venv" bash "$ROOT/tools/setup_env.sh"
NEW="$TMP/lock.txt"
{
  echo "# Exact versions of everything tools/setup_env.sh installs (CPython 3.11, Linux x86_64)."
  echo "# Made by tools/update_lock.sh from the ranges of requirements.txt on $(date -u +%Y-%m-%d)."
  echo "# mmcv 2.1.0 is built from source by tools/setup_env.sh before this file is installed."
  "$TMP/venv/bin/python" -m pip freeze --all --exclude-editable --disable-pip-version-check \
    | grep -v -i -E '^(dada[-_]mm|pip)==' | sed -E 's|^mmcv @ .*|mmcv==2.1.0|' \
    | LC_ALL=C sort -f
} > "$NEW"
mv "$NEW" "$ROOT/requirements/lock.txt"
echo "[update_lock] wrote requirements/lock.txt ($(grep -vc '^#' "$ROOT/requirements/lock.txt") packages)"
