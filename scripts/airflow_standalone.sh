#!/usr/bin/env bash
# `make airflow`: `airflow standalone` from the venv, the UI on 127.0.0.1 only, and every process it started
# stopped on Ctrl-C, SIGTERM or SIGHUP, whether started from a terminal or from a script (where SIGINT may
# arrive ignored). The stopping is done by scripts/airflow_standalone.py, which replaces this shell (same pid).
#
#   BIKESHARE_AIRFLOW_HOST   the API server's (UI's) address, default 127.0.0.1 (0.0.0.0: every interface)
#   BIKESHARE_AIRFLOW_PORT   its port, default 8080
#   BIKESHARE_AIRFLOW_STOP_GRACE  seconds standalone gets to stop its components before SIGTERM, default 30
#   AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT / AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT  (Airflow's own:
#       8793 / 8794) the scheduler's and triggerer's log servers, which Airflow binds to every interface
#       whatever the settings (airflow.utils.serve_logs: host=""); the UI reads the task logs from the files
#   AIRFLOW__CORE__PARALLELISM  LocalExecutor worker processes (all forked at start), default 4 here, not 32
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=scripts/dev_env.sh
source "$here/dev_env.sh"
host="${BIKESHARE_AIRFLOW_HOST:-127.0.0.1}"
port="${BIKESHARE_AIRFLOW_PORT:-8080}"
export AIRFLOW__API__HOST="$host"            # `airflow api-server`'s --host default ([api] host)
export AIRFLOW__API__PORT="$port"            # its --port default ([api] port)
# [api] base_url: the links Airflow writes, and where task processes find the execution API
# ({base_url}/execution/; without base_url Airflow assumes http://localhost:8080 whatever the port)
case "$host" in
  0.0.0.0 | "") url_host=127.0.0.1 ;;       # every interface: reached on loopback from here
  ::) url_host="[::1]" ;;
  *:*) url_host="[$host]" ;;
  *) url_host="$host" ;;
esac
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://$url_host:$port}"
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
echo "Airflow UI: http://$url_host:$port (bound to $host; user admin, password in $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated)"
exec python "$here/airflow_standalone.py"
