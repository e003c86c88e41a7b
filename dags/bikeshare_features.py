"""
### bikeshare_features — the feature store, every 15 minutes (dbt via astronomer-cosmos)

1. **source_freshness** — `dbt source freshness` on `raw_events` for live runs; a backfill or a late
   catch-up skips it (freshness is measured against *now*, which says nothing about a past interval).
2. **mark_building** — appends `(run_id, as_of, 'building', now)` to the `feature_store_runs` log
   (`as_of` = the run's `data_interval_end` floored to 15 minutes; the table is created if missing).
3. **dbt** — the dbt project rendered by cosmos from the prebuilt manifest (`LoadMode.DBT_MANIFEST`,
   built by `dbt parse` in the install step and the Docker image): one task per model (retried), then
   one `dbt test` task for all of them (not retried). dbt var `as_of` = the run's `data_interval_end`.
4. **features_ready** — runs only once models and tests passed: appends `(run_id, as_of, 'verified',
   now)` to `feature_store_runs`, which the training sensor reads (no Asset: nothing schedules on one).

**The training gate.** The models write their rows before `dbt test` checks them, so
`bikeshare_train_predict` does not trust rows alone: its sensor waits until no run is open (every
`building` row is followed by a `verified` row of the same or a newer `as_of`) and a run verified an
`as_of` at or after its hour. A run whose test failed, or that was killed, keeps training waiting (the
training sensor times out after 3 h: the alert) until a rerun of it or a later run passes; marking the
failed test task successful is the explicit override. Rule and limits: `include/gcp/feature_runs.py`.

Backfills: `station_features` rows for `as_of = t` use only events with `ts_iso < t`, and each run
fills every missing `as_of` up to its interval end (merge on the unique key), so a backfill of a past
day from the UI, one catch-up run, and the 96 live runs of that day give the same rows. A backfill run
closes the training gate while it builds and reopens it once verified. Give a backfill max active runs 1
and do not run it beside live runs: Airflow 3 does not count backfill runs against `max_active_runs`,
and concurrent runs merge into the same tables.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from include import cosmos_config
from include.gcp.settings import get_settings
from include.monitoring.alerts import default_args

DEFAULT_ARGS = default_args("data-platform", retry_delay=timedelta(seconds=30))  # alerts on a final failure
settings = get_settings()


@dag(
    dag_id="bikeshare_features",
    schedule="*/15 * * * *",
    start_date=datetime(2019, 1, 1),
    catchup=False,
    max_active_runs=1,  # runs merge into the same incremental table
    default_args=DEFAULT_ARGS,
    tags=["bikeshare", "features", "dbt"],
    doc_md=__doc__,
)
def bikeshare_features() -> None:
    @task
    def source_freshness(data_interval_end=None, dag_run=None) -> str:
        from airflow.sdk import timezone

        from include import cosmos_config
        from include.gcp.settings import get_settings

        if not cosmos_config.is_live_run(data_interval_end, timezone.utcnow(), dag_run.run_type):
            return f"not a live run ({dag_run.run_id}, interval end {data_interval_end}): freshness not checked"
        return cosmos_config.run_source_freshness(get_settings())

    @task
    def mark_building(run_id=None, data_interval_end=None) -> str:
        from include.gcp import feature_runs

        return str(feature_runs.mark_building(run_id, data_interval_end))

    @task
    def features_ready(run_id=None, data_interval_end=None) -> str:
        from include.gcp import feature_runs

        return str(feature_runs.mark_verified(run_id, data_interval_end))

    if not cosmos_config.manifest_path(settings).exists():

        @task(task_id=cosmos_config.DBT_GROUP_ID)
        def manifest_missing() -> None:
            raise FileNotFoundError(
                f"{cosmos_config.manifest_path(settings)} is missing; the install step builds it "
                "with `python -m include.dbt parse`"
            )

        source_freshness() >> mark_building() >> manifest_missing() >> features_ready()
        return

    from cosmos import DbtTaskGroup

    dbt = DbtTaskGroup(
        group_id=cosmos_config.DBT_GROUP_ID,
        project_config=cosmos_config.project_config(settings),
        profile_config=cosmos_config.profile_config(settings),
        execution_config=cosmos_config.execution_config(settings),
        render_config=cosmos_config.render_config(settings),
        operator_args=cosmos_config.operator_args(settings),
        default_args=DEFAULT_ARGS,
    )
    cosmos_config.disable_test_retries(dbt)
    source_freshness() >> mark_building() >> dbt >> features_ready()


bikeshare_features()
