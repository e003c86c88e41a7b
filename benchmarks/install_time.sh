#!/usr/bin/env bash
# Install time and size of the Airflow venv from requirements.lock: plain pip vs uv, both with
# their caches disabled, into throw-away venvs. Prints one line per installer. ~3 min (pip).
# Usage: bash benchmarks/install_time.sh [pip|uv ...]   (needs .venv for uv: make install)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3.11}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

for installer in "${@:-uv pip}"; do
  for one in $installer; do
    "$PYTHON" -m venv "$work/$one"
    start=$(date +%s%N)
    case "$one" in
      pip) "$work/$one/bin/pip" install --quiet --no-cache-dir --disable-pip-version-check \
             -r requirements.lock 2>/dev/null ;;
      uv)  .venv/bin/uv pip sync --quiet --no-cache --python "$work/$one/bin/python" requirements.lock ;;
      *)   echo "unknown installer $one" >&2; exit 2 ;;
    esac
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    size=$(du -sh "$work/$one" | cut -f1)
    pkgs=$(grep -c '^[a-z0-9].*==' requirements.lock)
    printf 'install %-3s  %4d.%d s  venv %s  (%d pinned packages, no cache)\n' \
      "$one" $((ms / 1000)) $((ms % 1000 / 100)) "$size" "$pkgs"
    rm -rf "${work:?}/$one"
  done
done
