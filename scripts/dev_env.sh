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
# The Citi Bike trip files (include/simulator/trip_data.py): without BIKESHARE_TRIPS_DATA_DIR they are downloaded
# once into .local/data/citibike-jc. The dev machine and CI keep verified copies beside the clone, in
# ../shared/data/citibike-jc: use them when they are there, so that everything works offline (a value already
# set wins; a fresh clone without ../shared downloads instead).
if [ -z "${BIKESHARE_TRIPS_DATA_DIR:-}" ] && [ -d "$_root/../shared/data/citibike-jc" ]; then
  export BIKESHARE_TRIPS_DATA_DIR="$(cd "$_root/../shared/data/citibike-jc" && pwd)"
fi
unset _root
