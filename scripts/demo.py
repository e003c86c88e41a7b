"""``make demo``: the whole lifecycle on the local stack, each step an Airflow DAG run (``airflow dags test``).

1. bikeshare_setup: topic, subscription, dataset, tables, bucket, dbt seeds;
2. history: the months before the demo day loaded into raw_events (``include.simulator.history``);
3. bikeshare_stream: starts the streaming pipeline (DirectRunner in the background; a job an earlier demo
   left running is drained first, as step 8 would have);
4. bikeshare_replay: the demo day's trips published to Pub/Sub, with a share of malformed messages;
   the script waits until the pipeline has written every valid event of the day to raw_events;
4b. bikeshare_inventory: once the local GBFS server has taken the same events, one poll of its feed: each
   station's stock at the demo hour in station_status;
5. bikeshare_features: one run at the demo hour (catches up every 15-minute as_of), recorded as
   verified in feature_store_runs once its dbt tests passed;
6. bikeshare_train_predict: waits for that verified run, trains, gates, predicts the next three hours
   (horizons 1..3), writes Avro to the bucket and station_predictions, then plans the hour: risk of empty
   and full, target intervals, the trucks' moves (station_risk, rebalancing_plan, rebalancing/*.json);
7. bikeshare_monitoring at that hour + 15 min: the forecasts are served (station_predictions), the
   outcome-based scores (model_performance), feature drift, alerts (``.local/alerts.jsonl``);
8. bikeshare_stream with action=drain: stops the pipeline (drained, not cancelled).

Each step is idempotent, so ``make demo`` can be rerun. Logs: ``.local/demo-<dag>.log``. When the dbt
models or macros changed since the last demo, step 5 first rebuilds the feature tables (``--full-refresh``,
the procedure of include/dbt/README.md): an incremental run would stop on the changed catalogue.
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from include.beam.control.job import JobState  # noqa: E402
from include.beam.control.job_control import streaming_job  # noqa: E402
from include.dbt import code_stamp  # noqa: E402
from include.dbt.runner import dbt_vars, run_dbt  # noqa: E402
from include.gcp import clients, feature_runs, paths  # noqa: E402
from include.gcp.settings import get_settings  # noqa: E402
from include.gcp.tables import FEATURE_STORE_RUNS, RAW_EVENTS, RAW_EVENTS_DEAD_LETTER  # noqa: E402
from include.simulator.history import load_history  # noqa: E402
from include.simulator.sources import month_files  # noqa: E402
from include.simulator.trips import events_from_files  # noqa: E402

HISTORY_MONTHS = [f"2019-{m:02d}" for m in range(1, 10)]
# The demo hour is a weekday morning a crew recognises: Tue 24 Sep 2019, 07:00 in Jersey City (EDT = UTC-4);
# the replayed day is the 24 hours before it.
DAY_END = datetime(2019, 9, 24, 11, tzinfo=UTC)
DAY_START = DAY_END - timedelta(days=1)
FEED_TIMEOUT_S = 120
MALFORMED_SHARE = 0.01
STREAM_TIMEOUT_S = 600
FEATURE_TABLES = (
    "stg_raw_events",
    "int_fleet_stations",
    "station_hourly_labels",
    "station_features_wide",
    "station_features",
    # the monitoring tables keyed by system since issue 24: rebuilt with the rest when the dbt code changed
    "int_risk_vs_outcome",
    "model_performance",
)
FEATURE_CODE_STAMP = ROOT / ".local" / "demo-feature-code.sha256"  # one sha256 per file: include/dbt/code_stamp.py
DBT_DIR = ROOT / "include" / "dbt"


def step(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.monotonic()


def done(started: float, detail: str = "") -> None:
    print(f"   done in {time.monotonic() - started:.1f} s{': ' + detail if detail else ''}", flush=True)


def dag_test(dag_id: str, logical_date: datetime | None = None, conf: dict | None = None) -> None:
    """``airflow dags test``; its log goes to .local/demo-<dag>.log, its tail to the terminal on failure."""
    cmd = ["airflow", "dags", "test", dag_id]
    if logical_date is not None:
        cmd.append(logical_date.isoformat())
    if conf:
        cmd += ["-c", json.dumps(conf)]
    log = ROOT / ".local" / f"demo-{dag_id}.log"
    with log.open("a") as out:
        out.write(f"\n$ {' '.join(cmd)}\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    finished = [line for line in log.read_text().splitlines() if "DagRun Finished" in line]
    state = "success" if finished and "state=success" in finished[-1] else "failed"
    if proc.returncode != 0 or state != "success":
        print("\n".join(log.read_text().splitlines()[-40:]))
        raise SystemExit(f"{dag_id} did not succeed (exit {proc.returncode}); log: {log}")
    print(f"   {dag_id}: success (log {log.relative_to(ROOT)})")


def count(sql: str) -> int:
    return int(next(iter(clients.bigquery_client(get_settings()).query(sql).result()))[0])


def wait_for_stream(expected: int) -> int:
    """Poll raw_events until the pipeline has written every valid event of the demo day."""
    s = get_settings()
    sql = (
        f"select count(distinct event_id) from `{s.table_id(RAW_EVENTS)}` "
        f"where ts_iso >= timestamp '{DAY_START.isoformat()}' and ts_iso < timestamp '{DAY_END.isoformat()}'"
    )
    deadline = time.monotonic() + STREAM_TIMEOUT_S
    while (n := count(sql)) < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"the stream wrote {n} of {expected} events of the demo day in {STREAM_TIMEOUT_S} s")
        print(f"   raw_events has {n:,} of {expected:,} events of the day", flush=True)
        time.sleep(5)
    return n


def wait_for_feed(expected: int) -> int:
    """Wait until the local GBFS server has taken every valid event of the day from its subscription (applied
    now or by an earlier demo), so that the status it serves is the stock at the demo hour."""
    import urllib.request

    url = get_settings().gbfs.url + "/inventory.json"
    deadline = time.monotonic() + FEED_TIMEOUT_S
    while True:
        with urllib.request.urlopen(url, timeout=10) as response:
            messages = json.load(response)["messages"]
        taken = int(messages.get("applied", 0)) + int(messages.get("duplicate", 0))
        if taken >= expected:
            return taken
        if time.monotonic() > deadline:
            raise SystemExit(f"the GBFS server took {taken} of {expected} events in {FEED_TIMEOUT_S} s ({url})")
        time.sleep(2)


def drop_views_that_became_tables(s) -> None:
    """Drop, in SQL, the views of models that are tables now (stg_raw_events and int_fleet_stations
    since 2026-12-01): dbt would drop them through the tables API, which the emulator never answers for
    a view (BigQuery does). A dataset built before then needs this once."""
    from google.api_core.exceptions import NotFound

    client = clients.bigquery_client(s)
    for model in ("stg_raw_events", "int_fleet_stations"):
        try:
            kind = client.get_table(s.table_id(model)).table_type
        except NotFound:
            continue
        if kind == "VIEW":
            client.query(f"drop view `{s.table_id(model)}`").result()
            print(f"   dropped the view {model} (a table now)")


def rebuild_features_if_code_changed(hour: datetime) -> bool:
    """Full-refresh the feature tables if they exist and the dbt code changed since the last demo."""
    from google.api_core.exceptions import NotFound

    s = get_settings()
    reason = code_stamp.why_rebuild(
        FEATURE_CODE_STAMP.read_text() if FEATURE_CODE_STAMP.exists() else None, code_stamp.fingerprint(DBT_DIR)
    )
    if reason is None:
        return False
    try:
        clients.bigquery_client(s).get_table(s.table_id("station_features_wide"))
    except NotFound:
        return False  # a first demo: the DAG run builds them
    print(f"   {reason}: rebuilding the feature tables (--full-refresh)")
    drop_views_that_became_tables(s)
    # the rebuild runs no tests: it only closes the training gate; the DAG run that follows verifies
    feature_runs.mark_building(f"demo_full_refresh__{hour.isoformat()}", hour, s)
    run_dbt(["run", "--full-refresh", "--select", *FEATURE_TABLES], s, vars=dbt_vars(as_of=hour))
    return True


def summary(demo_started: datetime) -> None:
    s = get_settings()
    bucket = clients.storage_client(s).bucket(s.bucket)
    latest = bucket.blob(paths.latest_model_pointer(s.system_root))  # the one system replayed here
    print(f"\n== result (bucket gs://{s.bucket}, dataset {s.project}.{s.dataset})")
    # Counts that a rerun leaves as they are (tables, never the tall station_features view: 62 M rows to count).
    print(f"   {RAW_EVENTS}: {count(f'select count(*) from `{s.table_id(RAW_EVENTS)}`'):,} rows (one per event_id)")
    dead = s.table_id(RAW_EVENTS_DEAD_LETTER)
    distinct = count(f"select count(distinct concat(coalesce(reason, ''), '|', payload)) from `{dead}`")
    deliveries = count(f"select count(*) from `{dead}`")
    print(
        f"   {RAW_EVENTS_DEAD_LETTER}: {distinct:,} distinct bad messages ({deliveries:,} rows: every delivery is "
        "kept, and a rerun's replay sends the same bad messages again)"
    )
    wide = s.table_id("station_features_wide")
    print(f"   station_features_wide: {count(f'select count(*) from `{wide}`'):,} rows (a station at an as_of)")
    runs = s.table_id(FEATURE_STORE_RUNS)
    verified = count(f"select count(distinct as_of) from `{runs}` where state = 'verified'")
    print(f"   {FEATURE_STORE_RUNS}: {verified:,} as_of(s) verified by dbt's tests")
    for blob in sorted(bucket.list_blobs(prefix=f"{s.system_root}/"), key=lambda b: b.name):
        print(f"   gs://{s.bucket}/{blob.name}  ({blob.size:,} bytes)")
    plan = bucket.blob(paths.rebalancing_plan(s.system_root, DAY_END))
    if plan.exists():
        body = json.loads(plan.download_as_text())
        summary_ = body["summary"]
        print(
            f"   plan for {DAY_END:%Y-%m-%d %H:%M} UTC: {len(body['moves'])} moves of {summary_['bikes_moved']} bikes, "
            f"stations in their target interval {summary_['in_interval_before']} -> {summary_['in_interval_after']}"
        )
        for move in body["moves"]:
            print(
                f"     truck {move['truck']} #{move['move_order']}: {move['bikes']} bikes "
                f"{move['from_station']} -> {move['to_station']}"
            )
    if latest.exists():
        pointer = json.loads(latest.download_as_text())
        metadata = json.loads(bucket.blob(pointer["metadata"]).download_as_text())
        print(f"   serving model {pointer['model_version']}: {metadata.get('gate')}")
        trained_at = datetime.fromisoformat(metadata["trained_at"])
        if trained_at < demo_started:  # the registry never overwrites a version: a rerun of the hour reuses it
            print(
                f"   (trained {trained_at:%Y-%m-%d %H:%M} UTC by an earlier demo of this hour and reused, not "
                "retrained; `make clean` resets the local state)"
            )


def main() -> None:
    s = get_settings()
    demo_started = datetime.now(UTC)
    started = step("1. bikeshare_setup: resources and dbt seeds")
    dag_test("bikeshare_setup")
    done(started)

    started = step(f"2. history: {HISTORY_MONTHS[0]}..{HISTORY_MONTHS[-1]} before {DAY_START:%Y-%m-%d %H:%M} UTC")
    loaded = load_history(HISTORY_MONTHS, end=DAY_START)
    done(started, f"{loaded.events:,} events read, {loaded.inserted:,} new in raw_events")

    started = step("3. bikeshare_stream: start the streaming pipeline")
    left_running = streaming_job().state() == JobState.RUNNING
    if left_running:
        # An earlier demo stopped before its step 8: the job has run idle since. Judged now it is stale, and
        # after a rerun's replay too (every event a duplicate, only the bad messages are new rows), so it is
        # drained and started fresh, as after a demo that finished.
        dag_test("bikeshare_stream", conf={"action": "drain"})
    dag_test("bikeshare_stream", conf={"action": "start"})
    done(started, "an earlier demo left it running: drained and started again" if left_running else "")

    started = step(f"4. bikeshare_replay: {DAY_START:%Y-%m-%d %H:%M} to {DAY_END:%Y-%m-%d %H:%M} UTC via Pub/Sub")
    day = events_from_files(month_files("2019-09", s.trips_data_dir), DAY_START, DAY_END)
    conf = {
        "months": ["2019-09"],
        "from": DAY_START.isoformat(),
        "to": DAY_END.isoformat(),
        "speed_up": 0,
        "malformed_share": MALFORMED_SHARE,
    }
    dag_test("bikeshare_replay", conf=conf)
    written = wait_for_stream(len(day))
    done(started, f"{written:,} events of the day in raw_events")

    started = step("4b. bikeshare_inventory: the local GBFS feed's station status into BigQuery")
    applied = wait_for_feed(len(day))
    dag_test("bikeshare_inventory")
    done(started, f"the feed applied {applied:,} events of the replay")

    hour = DAY_END
    started = step(f"5. bikeshare_features as of {hour:%Y-%m-%d %H:%M} UTC (catches up every 15-minute as_of)")
    rebuilt = rebuild_features_if_code_changed(hour)
    dag_test("bikeshare_features", logical_date=hour)
    FEATURE_CODE_STAMP.write_text(code_stamp.stamp(code_stamp.fingerprint(DBT_DIR)))
    done(started, "feature tables rebuilt (reason above)" if rebuilt else "")

    started = step(f"6. bikeshare_train_predict for the hour after {hour:%Y-%m-%d %H:%M} UTC")
    dag_test("bikeshare_train_predict", logical_date=hour)
    done(started)

    started = step(f"7. bikeshare_monitoring at {hour + timedelta(minutes=15):%Y-%m-%d %H:%M} UTC")
    dag_test("bikeshare_monitoring", logical_date=hour + timedelta(minutes=15))
    done(started)

    started = step("8. bikeshare_stream: drain the pipeline")
    dag_test("bikeshare_stream", conf={"action": "drain"})
    done(started)
    summary(demo_started)


if __name__ == "__main__":
    main()
