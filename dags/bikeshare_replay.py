"""
### bikeshare_replay — feed the pipeline with replayed (or synthetic) trips

Replays Citi Bike trip files as pickup/dropoff events on the Pub/Sub topic, in event-time order,
`speed_up` times faster than real time (3600 = one hour of trips per second; 0 = as fast as
possible). Trigger it manually with params:

- `months` (`YYYY-MM`, looked up in `data_dir`; empty = the pinned Citi Bike JC files, from
  `BIKESHARE_TRIPS_DATA_DIR` or downloaded once into the project's cache: include/simulator/trip_data.py) and/or
  `files` (paths of `.csv`/`.zip` trip files, 2019 or 2021+ layout);
- `from` / `to`: the event-time window, ISO 8601, UTC unless an offset is given;
- `malformed_share`, `seed`: inject bad messages (named by the reason codes they are dead-lettered
  with: `bad_json`, `bad_kind`, `missing_station`, `bad_ts_iso`; and `duplicate`) for reliability tests;
- `synthetic` with `synthetic_stations`, `synthetic_hours`, `synthetic_rate`: generated load from `from`.

The topic and its subscription are created first if missing. The summary (published, rejected rows,
injected messages by type, event-time range, rate) is the task's return value. Event ids come from
the trips, so a retry or a second run publishes the same ids and the ingest dedupes them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task

from include.monitoring.alerts import default_args
from include.timeouts import REPLAY as TIMEOUTS

DEFAULT_ARGS = default_args(  # alerts on a final failure
    "data-platform", retry_delay=timedelta(seconds=30), execution_timeout=TIMEOUTS.execution()
)

PARAMS = {
    "months": Param(["2019-09"], type="array", items={"type": "string"}, description="YYYY-MM months to replay"),
    "files": Param([], type="array", items={"type": "string"}, description="trip file paths (.csv or .zip)"),
    "data_dir": Param("", type="string", description="where months are looked up; empty = the default"),
    "from": Param("2019-09-01T04:00:00Z", type=["null", "string"], description="window start (inclusive)"),
    "to": Param("2019-09-02T04:00:00Z", type=["null", "string"], description="window end (exclusive)"),
    "speed_up": Param(3600, type="number", minimum=0, description="event time per wall second; 0 = max speed"),
    "malformed_share": Param(0.0, type="number", minimum=0, maximum=1, description="share of injected bad messages"),
    "seed": Param(0, type="integer", description="seed for injection and synthetic mode"),
    "limit": Param(None, type=["null", "integer"], minimum=1, description="send at most this many events"),
    "synthetic": Param(False, type="boolean", description="generate trips instead of reading files"),
    "synthetic_stations": Param(50, type="integer", minimum=1),
    "synthetic_hours": Param(24, type="integer", minimum=1),
    "synthetic_rate": Param(1.0, type="number", minimum=0, description="mean trips per station per hour"),
}


@dag(
    dag_id="bikeshare_replay",
    schedule=None,
    start_date=datetime(2019, 1, 1),
    catchup=False,
    default_args=DEFAULT_ARGS,
    **TIMEOUTS.dag_args(),  # dagrun_timeout and its alert (include/timeouts.py)
    params=PARAMS,
    tags=["bikeshare", "simulator"],
    doc_md=__doc__,
)
def bikeshare_replay() -> None:
    @task
    def ensure_pubsub() -> list[str]:
        from include.gcp import resources

        return [str(o) for o in resources.ensure_pubsub()]

    @task(execution_timeout=TIMEOUTS.execution("replay"))  # 2 h: a month at speed_up 3600 takes 12 min
    def replay(params: dict | None = None) -> dict[str, object]:
        from include.simulator.replay import request_from_params, run_replay

        return run_replay(request_from_params(params or {})).to_dict()

    ensure_pubsub() >> replay()


bikeshare_replay()
