"""
### bikeshare_inventory - station stock from the GBFS feed, every minute

One task, **poll_feed**: read the operator's GBFS feed through its auto-discovery URL (`BIKESHARE_GBFS_URL`;
Citi Bike: `https://gbfs.citibikenyc.com/gbfs/2.3/gbfs.json`; locally the GBFS server `make stack-up` starts),
keep each station's status once per `last_reported` in BigQuery `station_status` and changed stations in
`station_information`. The feed's `ttl` is honoured: while the last good `station_status` is younger than
its ttl the task is **skipped**.

A bad feed (HTTP error, timeout, invalid JSON, a schema violation, more bikes than docks, negative counts, a
`last_reported` in the future or older than the stored one) never fails the run: each file or station is a
row of `gbfs_dead_letters` with its reason, and nothing bad is stored. The run fails (and alerts) only when
BigQuery itself cannot be reached. `bikeshare_stream`'s monitor alerts when the status is older than
3 x ttl. Code and rules: `include/gbfs`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from include.monitoring.alerts import default_args
from include.timeouts import INVENTORY as TIMEOUTS

# a minute's DAG: retry within it
DEFAULT_ARGS = default_args("data-platform", retry_delay=timedelta(seconds=10), execution_timeout=TIMEOUTS.execution())


@dag(
    dag_id="bikeshare_inventory",
    schedule="* * * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,  # a feed is a snapshot of now: a missed minute cannot be fetched later
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    **TIMEOUTS.dag_args(),  # dagrun_timeout and its alert (include/timeouts.py)
    tags=["bikeshare", "ingest", "gbfs"],
    doc_md=__doc__,
)
def bikeshare_inventory() -> None:
    @task
    def poll_feed() -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from include.gbfs.poll import poll

        result = poll()
        if result.skipped:
            raise AirflowSkipException(f"the feed's ttl has not passed: {result.skipped}")
        return result.to_dict()

    poll_feed()


bikeshare_inventory()
