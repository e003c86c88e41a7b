"""
### bikeshare_setup — create what the pipeline writes to

Creates, if missing, the Pub/Sub topic and subscription, the BigQuery dataset with the
`raw_events`, `raw_events_dead_letter` and `feature_store_runs` tables (the last one is the features
runs' log the training sensor reads; a features run also creates it if it is missing), and the
bucket, then loads the dbt seeds
(`stations`, `us_federal_holidays`: reference data the feature models join, tested on load; the
15-minute features DAG does not reload them). Every task is idempotent:
running the DAG again changes nothing. The same code runs in both profiles; the `local` profile
points it at the emulators (`make stack-up`), the `gcp` profile at Google Cloud.

Trigger it once after a deployment (or let the streaming DAG call the same functions).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import dag, task

from include.monitoring.alerts import default_args
from include.timeouts import SETUP as TIMEOUTS

DEFAULT_ARGS = default_args(  # alerts on a final failure
    "data-platform", retry_delay=timedelta(seconds=30), execution_timeout=TIMEOUTS.execution()
)


@dag(
    dag_id="bikeshare_setup",
    schedule=None,
    start_date=datetime(2019, 1, 1),
    catchup=False,
    default_args=DEFAULT_ARGS,
    **TIMEOUTS.dag_args(),  # dagrun_timeout and its alert (include/timeouts.py)
    tags=["bikeshare", "setup"],
    doc_md=__doc__,
)
def bikeshare_setup() -> None:
    @task
    def ensure_pubsub() -> list[str]:
        from include.gcp import resources

        return [str(o) for o in resources.ensure_pubsub()]

    @task
    def ensure_bigquery() -> list[str]:
        from include.gcp import resources

        return [str(o) for o in resources.ensure_bigquery()]

    @task
    def ensure_bucket() -> str:
        from include.gcp import resources

        return str(resources.ensure_bucket())

    @task(execution_timeout=TIMEOUTS.execution("load_dbt_seeds"))
    def load_dbt_seeds() -> str:
        from include.dbt import cosmos_tasks
        from include.gcp.settings import get_settings

        return cosmos_tasks.load_seeds(get_settings())[-2000:]

    ensure_pubsub()
    ensure_bigquery() >> load_dbt_seeds()
    ensure_bucket()


bikeshare_setup()
