"""
### bikeshare_inventory - station stock from every system's GBFS feed, every minute

**systems** lists the enabled systems of the systems table (`include/dbt/seeds/systems.csv`) (after bringing the
four GBFS tables to their specs, once: a table from before systems gains `system_id`), and **poll_feed**
is mapped over them (the map index is named by the system): each reads its system's GBFS feed through the
auto-discovery URL (the table's `gbfs_url`; `BIKESHARE_GBFS_URL` overrides the default system's; locally the GBFS
server `make stack-up` starts, `/{system_id}/gbfs.json`), keeps each station's status once per `last_reported`
in BigQuery `station_status` and changed stations in `station_information`, every row with its `system_id`. Each
system's feed has its own `ttl`: while its last good `station_status` is younger than that, its map index is
**skipped**.

A bad feed (HTTP error, timeout, invalid JSON, a schema violation, more bikes than docks, negative counts, a
`last_reported` in the future or older than the stored one) never fails the run: each file or station is a
row of `gbfs_dead_letters` with its reason and system, and nothing bad is stored. A map index fails (and alerts)
only when BigQuery itself cannot be reached, and then only that system's. `bikeshare_stream`'s monitor alerts
when the status is older than 3 x ttl. Code and rules: `include/gbfs`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import dag, task

from include.mapped import SYSTEM_LABEL, system_settings
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
    def systems() -> list[str]:
        """The enabled systems; first the GBFS tables brought to their specs, once, before the parallel polls."""
        from include.gbfs.poll import ensure_tables
        from include.systems import enabled_system_ids

        for done in ensure_tables():
            logging.getLogger(__name__).info("%s", done)
        return enabled_system_ids()

    @task(map_index_template=SYSTEM_LABEL)
    def poll_feed(system_id: str) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowSkipException

        from include.gbfs.poll import poll

        result = poll(system_settings(system_id))
        if result.skipped:
            raise AirflowSkipException(f"{system_id}: the feed's ttl has not passed: {result.skipped}")
        return result.to_dict()

    poll_feed.expand(system_id=systems())


bikeshare_inventory()
