"""
### bikeshare_features — the feature store, every 15 minutes (dbt build via astronomer-cosmos)

1. **source_freshness** — `dbt source freshness` on `raw_events` for live runs; a backfill or a late
   catch-up skips it (freshness is measured against *now*, which says nothing about a past interval).
   On the `local` profile a run whose interval end lies outside the replayed events (the wall-clock runs
   Airflow schedules once the DAG is unpaused) is **skipped**, with the whole run, and says why
   (`include/gcp/data_span.py`): no false freshness alert, no build of years of empty hours.
2. **mark_building** — appends `(run_id, as_of, 'building', now)` to the `feature_store_runs` log
   (`as_of` = the run's `data_interval_end` floored to 15 minutes; the table is created if missing).
3. **dbt_build** — one `dbt build` by cosmos (`DbtBuildLocalOperator`): the marts
   (`station_features_wide`, its unpivot `station_features`, `station_hourly_labels`) and every data
   test, each model's tests right after it; a failing test skips what depends on it. dbt var `as_of` =
   the run's `data_interval_end`. Not retried: a test failure is a data problem, and anything else is
   repaired by the next run, which builds every missing `as_of` (include/dbt/cosmos_tasks.py).
4. **features_ready** — runs only once models and tests passed: appends `(run_id, as_of, 'verified',
   now)` to `feature_store_runs`, which the training sensor reads (no Asset: nothing schedules on one).

**The training gate.** A model writes its rows before its tests check them, so
`bikeshare_train_predict` does not trust rows alone: its sensor waits until no run is open (every
`building` row is followed by a `verified` row of the same or a newer `as_of`) and a run verified an
`as_of` at or after its hour. A run whose build failed, or that was killed, keeps training waiting (the
training sensor times out after 3 h: the alert) until a rerun of it or a later run passes; marking the
failed `dbt_build` task successful is the explicit override. Rule and limits: `include/gcp/feature_runs.py`.

Backfills: `station_features` rows for `as_of = t` use only events with `event_at < t`, and each run
fills every missing `as_of` up to its interval end (merge on the unique key), so a backfill of a past
day from the UI, one catch-up run, and the 96 live runs of that day give the same rows. A backfill run
closes the training gate while it builds and reopens it once verified. Give a backfill max active runs 1
and do not run it beside live runs: Airflow 3 does not count backfill runs against `max_active_runs`,
and concurrent runs merge into the same tables.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from include.dbt import cosmos_tasks
from include.gcp.settings import get_settings
from include.monitoring.alerts import default_args
from include.timeouts import FEATURES as TIMEOUTS

DEFAULT_ARGS = default_args(  # alerts on a final failure
    "data-platform", retry_delay=timedelta(seconds=30), execution_timeout=TIMEOUTS.execution()
)
settings = get_settings()


@dag(
    dag_id="bikeshare_features",
    schedule="*/15 * * * *",
    start_date=datetime(2019, 1, 1),
    catchup=False,
    max_active_runs=1,  # runs merge into the same incremental table
    default_args=DEFAULT_ARGS,
    **TIMEOUTS.dag_args(),  # dagrun_timeout (a first build may outlast the 15 min) and its alert
    tags=["bikeshare", "features", "dbt"],
    doc_md=__doc__,
)
def bikeshare_features() -> None:
    @task
    def source_freshness(data_interval_end=None, dag_run=None) -> str:
        from airflow.sdk import timezone
        from airflow.sdk.exceptions import AirflowSkipException

        from include.dbt import cosmos_tasks
        from include.gcp import data_span
        from include.gcp.settings import get_settings

        if reason := data_span.outside_reason(data_interval_end):  # local profile only: no replayed data there
            raise AirflowSkipException(reason)

        if not cosmos_tasks.is_live_run(data_interval_end, timezone.utcnow(), dag_run.run_type):
            return f"not a live run ({dag_run.run_id}, interval end {data_interval_end}): freshness not checked"
        return cosmos_tasks.run_source_freshness(get_settings())

    @task
    def mark_building(run_id=None, data_interval_end=None) -> str:
        from include.gcp import feature_runs

        return str(feature_runs.mark_building(run_id, data_interval_end))

    @task
    def features_ready(run_id=None, data_interval_end=None) -> str:
        from include.gcp import feature_runs

        return str(feature_runs.mark_verified(run_id, data_interval_end))

    build = cosmos_tasks.build_operator(settings, execution_timeout=TIMEOUTS.execution(cosmos_tasks.BUILD_TASK_ID))
    source_freshness() >> mark_building() >> build >> features_ready()


bikeshare_features()
