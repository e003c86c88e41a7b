#!/usr/bin/env bash
# `airflow standalone` from the venv, stopped cleanly on Ctrl-C or SIGTERM.
# Standalone shuts its components down only when SIGINT reaches it alone; a terminal's Ctrl-C
# (or SIGTERM) sent to every process of the group leaves the scheduler hanging. So standalone
# runs in its own process group and this script forwards a single SIGINT to it.
set -euo pipefail
source "$(dirname "$0")/dev_env.sh"
set -m                      # job control: the background job gets its own group, SIGINT not ignored
airflow standalone &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || true' INT TERM
while kill -0 "$pid" 2>/dev/null; do
  wait "$pid" || true
done
