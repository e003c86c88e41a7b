# Environment for running Airflow from the project's virtualenv (sourced by the Makefile).
# The Astro image sets the equivalent itself; nothing here is a secret.
_root="$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)"
export PATH="$_root/.venv/bin:$PATH"          # airflow standalone starts its children by name
export PYTHONPATH="$_root${PYTHONPATH:+:$PYTHONPATH}"   # `include` importable, as in the image
export AIRFLOW_HOME="${AIRFLOW_HOME:-$_root/.local/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$_root/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$_root/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__COSMOS__ENABLE_TELEMETRY=False          # offline: no telemetry calls
export AIRFLOW__COSMOS__CACHE_DIR="$_root/.local/cosmos"
unset _root
