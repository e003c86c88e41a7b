"""Feature build time on the local stack: (a) a first build over the last N months of real Citi Bike events,
(b) one 15-minute increment on top of that history. Prints both times and their ratio.

    .venv/bin/python -m benchmarks.features_build [--months 9] [--synthetic-q4] [--keep] [--dag]
        [--late-events N] [--time-reversed]

``--months N`` loads the last N of the pinned monthly trip files (Jan-Sep 2019, include/simulator/trip_data.py:
read from BIKESHARE_TRIPS_DATA_DIR, else downloaded once into .local/data/citibike-jc); ``--synthetic-q4`` adds
Jan-Mar 2019 shifted 39 weeks (weekdays kept) as Oct-Dec 2019 and cuts the increment on 29 December, so
``--months 9 --synthetic-q4`` is 12 months of history.

``--late-events N`` then loads N events spread over the 40 hours before the increment's as_of (written
late, outside the 60-minute lookback) and times (c) a run of that as_of again: the cost of a reconcile
that finds work (the marts rebuild from the earliest as_of / hour that misses one: include/dbt/README.md).

``--time-reversed`` builds (and keeps) the stream played backwards, a falling season for scoring the model
(research/time_reversed.py; its first build 47.8 s, increment 9.6 s, idle, 2026-11-24).

``--dag`` also times two more increments as the bikeshare_features DAG runs them (``dag.test()``: source
freshness skipped for a past interval, then one cosmos ``dbt build`` of the models and their tests): the
first parses the dbt project in full (the profile's dataset differs from the install's parse), the second
starts from the partial-parse state cosmos kept, as every live run after the first does. It needs the
Airflow DB of ``make airflow-db`` (``source scripts/dev_env.sh`` first).

Works in its own dataset (bench_features_<tag>), dropped at the end unless --keep. Each dbt step is
one ``dbt run`` invocation (the monitoring models left out, as in the DAG); the figures are the
invocation's wall time and the models' own time from run_results.json (the rest is dbt start-up, ~4 s).

It also times a DELETE that matches no row on station_features_wide: the emulator's fixed cost per write.
bqemulator 1.4 copies the whole table after every write for time travel (a 10 s floor under each MERGE
on 57 M rows); the stack's launcher (include/localstack/bqemulator_launcher.py) skips that copy when time
travel is off, as it is locally, so this prints ~0 s. BigQuery has no such cost.

Measured 2026-12-01 after issue 14 §2 (int -> wide -> tall view, incremental staging and fleet, one dbt
build per DAG run; load 0.03 -> 1.12), --months 3 / 6 / 9 / 9 --synthetic-q4:
| history | events | (a) first build | (b) increment, wall (models) | DAG run, partial parse (first, full parse) |
|---|---|---|---|---|
| 3 months | 281,925 | 12.5 s | 10.2 s (5.3 s) | 16.6 s (21.6 s) |
| 6 months | 499,167 | 14.1 s | 8.8 s (7.2 s, labels and wide overlapping) | 16.7 s (21.7 s) |
| 9 months | 622,861 | 16.1 s | 8.9 s (4.8 s) | 16.4 s (21.1 s) |
| 12 months | 747,606 | 20.2 s | 8.8 s (4.8 s) | 16.7 s (20.2 s) |
The same code before the staging table and the tall view (a materialised tall table, the staging view
deduplicating the whole history on every read): increments 10.0 / 11.3 / 13.0 s over 3 / 6 / 9 months, and
at 12 months the tall table's first build (83 M rows) ran for 10 minutes before it was stopped.

Measured 2026-12-01 with late-event reconciliation (--dag --late-events 20, alternating with the commit
before it; load 0.6-2 on 2 cores shared with other work): (b) 10.7, 11.9, 10.8, 11.8, 10.1 s (median 10.8)
against 10.1, 10.7, 11.4, 10.5, 10.1 s (median 10.5); (c) 20 late events over 40 h, 163 as_ofs rewritten
(397,394 tall rows): 10.9, 12.7, 11.1, 11.8, 10.5 s (median 11.1); (b') 39.3, 40.2, 39.1, 41.1, 36.3 s
(median 39.3) against 40.2, 40.0, 38.9, 38.0, 36.1 s (median 38.9).
Measured 2026-11-24 with 46 features (62.2 M tall rows; idle machine): (a) 51.0, 57.6, 55.2 s, (b) 9.7, 9.4,
9.0 s; (b') as a DAG run 27.9 s (its dbt test 6.5 s). Before the fleet's 15/30-minute counts (42 features,
56.8 M tall rows), 9 months, 622,861 events:
(a) first build 48.3 s; (b) increment of +38 events 9.3 s wall (8.8 s in models); re-run of the same as_of
7.4 s; ratio 0.19 wall, 0.11 model time; (b') the increment as a DAG run 30.4 s (its dbt test 7.3 s; 52.8 s
and 28.3 s while the test task still ran dbt's unit tests).
The day before (105 stations incl. Manhattan trip ends, 39 features, 57.2 M rows, load ~1.9): 50.9 s / 8.1 s.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

from include.dbt.runner import dbt_vars, run_dbt  # noqa: E402
from include.gcp import clients, resources  # noqa: E402
from include.gcp.events import Event, format_ts  # noqa: E402
from include.gcp.raw_events import load_raw_events  # noqa: E402
from include.gcp.settings import get_settings  # noqa: E402
from include.simulator import trip_data  # noqa: E402
from include.simulator.trips import events_from_files  # noqa: E402
from research import time_reversed  # noqa: E402


def trip_files(months: int) -> list[Path]:
    """The last ``months`` pinned monthly trip files (JC-YYYYMM-citibike-tripdata.csv.zip), checked by sha256."""
    pinned = sorted(trip_data.TRIP_FILES)
    if months > len(pinned):
        raise SystemExit(
            f"--months {months}: only {len(pinned)} pinned monthly trip files ({trip_data.pinned_months()})"
        )
    return trip_data.ensure_trip_files(pinned[-months:])


STEP = timedelta(minutes=15)
SYNTHETIC_SHIFT = timedelta(weeks=39)  # 1 Jan 2019 + 39 weeks = 1 Oct 2019, weekdays kept


def synthetic_quarter(events: list[Event], since: datetime, until: datetime) -> list[Event]:
    """Events of [since, until) shifted 39 weeks later under new ids: Jan-Mar 2019 become Oct-Dec 2019,
    so the history runs through December where the data folder stops in September."""
    return [replace(e, ts=e.ts + SYNTHETIC_SHIFT, event_id=f"q4-{e.event_id}") for e in events if since <= e.ts < until]


def last_day_20h(file: Path) -> datetime:
    """20:00 UTC on the last day of the file's month (an evening with traffic)."""
    yyyymm = file.name.split("-")[1]
    first = datetime(int(yyyymm[:4]), int(yyyymm[4:]), 1, 20, 0, tzinfo=UTC)
    next_month = (first + timedelta(days=32)).replace(day=1)
    return next_month - timedelta(days=1)


def model_seconds(target: Path) -> dict[str, float]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: round(r["execution_time"], 2) for r in results}


def rows_written(target: Path) -> dict[str, int]:
    """Rows each model's merge wrote in the last run (how many as_ofs / hours it rebuilt)."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r["adapter_response"].get("rows_affected") for r in results}


def late_events(history: list[dict], before: datetime, count: int, span: timedelta) -> list[dict]:
    """``count`` events written late: spread evenly over ``span`` before ``before``, at stations of
    the fleet, pickups and dropoffs alternating (deterministic)."""
    rng = random.Random(0)
    stations = sorted({e["station_id"] for e in history if e["kind"] == "pickup"})
    step = span / count
    return [
        {
            "event_id": f"bench-late-{i}",
            "station_id": rng.choice(stations),
            "ts_iso": format_ts(before - span + step * i + timedelta(seconds=rng.randrange(1, 600))),
            "kind": "pickup" if i % 2 == 0 else "dropoff",
            "delta": 1,
        }
        for i in range(count)
    ]


def timed_run(settings, target: Path, as_of: datetime) -> tuple[float, dict[str, float]]:
    result = run_dbt(["run", "--exclude", "tag:monitoring"], settings, vars=dbt_vars(as_of=as_of), target_path=target)
    return result.seconds, model_seconds(target)


def mirror_holidays(settings) -> None:
    """Move the holiday seed's 2019 days to the days that play them backwards (the holiday flag follows)."""
    import csv

    quote = "'"  # names like New Year's Day go inside a SQL string literal
    seed = ROOT / "include" / "dbt" / "seeds" / "us_federal_holidays.csv"
    rows = time_reversed.mirrored_holidays(csv.DictReader(seed.open()))
    table = settings.table_id("us_federal_holidays")
    client = clients.bigquery_client(settings)
    client.query(f"delete from `{table}` where true").result()
    values = ", ".join(
        f"(date '{r['holiday_date']}', date '{r['observed_date']}', '{r['holiday_name'].replace(quote, '')}')"
        for r in rows
    )
    client.query(f"insert into `{table}` (holiday_date, observed_date, holiday_name) values {values}").result()
    print(f"holidays mirrored: {[r['observed_date'] for r in rows]}")


def timed_dag_run(settings, interval_end: datetime) -> tuple[float, dict[str, float]]:
    """One bikeshare_features run for ``interval_end`` against the benchmark dataset, as ``dag.test()``."""
    import os

    from airflow.dag_processing.dagbag import DagBag

    os.environ["BIKESHARE_BQ_DATASET"] = settings.dataset  # the DAG file reads the settings at parse
    get_settings.cache_clear()
    dag = DagBag(dag_folder=ROOT / "dags" / "bikeshare_features.py").dags["bikeshare_features"]
    started = time.monotonic()
    run = dag.test(logical_date=interval_end)
    wall = time.monotonic() - started
    if run.state != "success":
        raise SystemExit(f"bikeshare_features run ended {run.state}")
    from airflow.models import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=run.run_id).all()
        tasks = {ti.task_id: round((ti.end_date - ti.start_date).total_seconds(), 1) for ti in tis if ti.end_date}
    return wall, tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--months", type=int, default=9, help="the last N months of trip files in the data folder to load (default 9)"
    )
    parser.add_argument(
        "--synthetic-q4",
        action="store_true",
        help="also load Jan-Mar 2019 shifted 39 weeks as Oct-Dec 2019 (history through December; "
        "with --months 9: 12 months) and cut the increment on 29 December (31 March + 39 weeks)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the benchmark dataset")
    parser.add_argument("--dag", action="store_true", help="also time an increment as a bikeshare_features DAG run")
    parser.add_argument(
        "--late-events",
        type=int,
        default=0,
        metavar="N",
        help="also time a run of the increment's as_of after N events spread over the 40 hours before it arrived late",
    )
    parser.add_argument(
        "--time-reversed",
        action="store_true",
        help="build from the stream played backwards (a falling season, see time_reversed.py); implies --keep",
    )
    args = parser.parse_args()
    args.keep = args.keep or args.time_reversed

    settings = get_settings().with_names(dataset=f"bench_features_{uuid.uuid4().hex[:8]}")
    files = trip_files(args.months)
    # cut at a 15-minute boundary: history before t0, the increment is [t0, t0 + 15 min)
    t0 = last_day_20h(files[-1])
    t1 = t0 + timedelta(minutes=15)
    t2 = t1 + timedelta(minutes=15)
    if args.time_reversed:
        t0 = datetime(2020, 9, 30, 0, 0, tzinfo=UTC)  # real 2019-01-01 04:00 New York time, backwards
        t1 = t0 + timedelta(minutes=15)
        t2 = t1 + timedelta(minutes=15)
        events = [e for e in time_reversed.reversed_events(events_from_files(files)) if e.ts < t2 + STEP]
    elif args.synthetic_q4:
        first_quarter = trip_data.ensure_trip_files(["2019-01", "2019-02", "2019-03"])
        q4 = synthetic_quarter(
            events_from_files(first_quarter), datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 4, 1, tzinfo=UTC)
        )
        t0 = datetime(2019, 12, 29, 20, 0, tzinfo=UTC)  # 31 March 2019 20:00 + 39 weeks: the last shifted evening
        t1 = t0 + timedelta(minutes=15)
        t2 = t1 + timedelta(minutes=15)
        events = [e for e in sorted([*events_from_files(files), *q4]) if e.ts < t2 + STEP]
    else:
        events = events_from_files(files, end=t2 + STEP)
    history = [e.to_dict() for e in events if e.ts < t0]
    increment = [e.to_dict() for e in events if t0 <= e.ts < t1]
    dag_increment = [e.to_dict() for e in events if t1 <= e.ts < t2]
    dag_increment_2 = [e.to_dict() for e in events if e.ts >= t2]
    target = Path(tempfile.mkdtemp(prefix="dbt-bench-")) / "target"
    try:
        resources.ensure_bigquery(settings)
        started = time.monotonic()
        load_raw_events(history, settings)
        load_s = time.monotonic() - started
        run_dbt(["seed"], settings, target_path=target)  # what bikeshare_setup does once
        if args.time_reversed:
            mirror_holidays(settings)
        print(
            f"history: {len(history):,} events {history[0]['ts_iso']} .. {history[-1]['ts_iso']}, load {load_s:.1f} s"
        )

        full_s, full_models = timed_run(settings, target, t0)
        rows = (
            clients.bigquery_client(settings)
            .query(f"select count(*) from `{settings.table_id('station_features_wide')}`")
            .result()
        )
        print(f"(a) first build, as_of {t0.isoformat()}: {full_s:.1f} s wall; models {full_models}")
        wide_rows = next(iter(rows))[0]
        print(f"    station_features_wide rows: {wide_rows:,} (station_features, its unpivot: {46 * wide_rows:,})")

        load_raw_events(increment, settings)
        inc_s, inc_models = timed_run(settings, target, t1)
        print(
            f"(b) increment, +{len(increment)} events, as_of {t1.isoformat()}: {inc_s:.1f} s wall; models {inc_models}"
        )
        print(f"    rows written: {rows_written(target)}")

        client = clients.bigquery_client(settings)
        started = time.monotonic()
        client.query(f"delete from `{settings.table_id('station_features_wide')}` where false").result()
        floor_s = time.monotonic() - started
        print(f"    emulator cost of one write (no-op DELETE on station_features_wide): {floor_s:.1f} s")

        noop_s, _ = timed_run(settings, target, t1)
        print(f"    re-run of the same as_of: {noop_s:.1f} s wall")
        sql_full, sql_inc = sum(full_models.values()), sum(inc_models.values())
        print(
            f"ratio (b)/(a): wall {inc_s / full_s:.3f}, model time {sql_inc:.2f} s / {sql_full:.2f} s = "
            f"{sql_inc / sql_full:.3f}; target (b) < 10 s: {'met' if inc_s < 10 else 'NOT met'}"
        )
        if args.late_events:
            late = late_events(history, t1, args.late_events, timedelta(hours=40))
            load_raw_events(late, settings)
            late_s, late_models = timed_run(settings, target, t1)
            label = f"(c) run of as_of {t1.isoformat()} after {len(late)} late events over the 40 h before it"
            print(f"{label}: {late_s:.1f} s wall; models {late_models}")
            print(f"    rows written: {rows_written(target)}")
        if args.dag:
            # the first DAG run parses the dbt project in full (the profile's dataset differs from
            # the install's parse); cosmos then keeps the partial-parse state, as between live runs
            for increment, interval_end, label in (
                (dag_increment, t2, "(b') increment as a DAG run, first (full dbt parse)"),
                (dag_increment_2, t2 + STEP, "(b'') the next increment as a DAG run (partial parse)"),
            ):
                load_raw_events(increment, settings)
                dag_s, tasks = timed_dag_run(settings, interval_end)
                print(f"{label}, +{len(increment)} events, as_of {interval_end.isoformat()}: {dag_s:.1f} s wall")
                print(f"    tasks (s): {tasks}")
    finally:
        if args.keep:
            print(f"kept dataset {settings.dataset} (train_predict.py --dataset {settings.dataset})")
        else:
            clients.bigquery_client(settings).delete_dataset(settings.dataset, delete_contents=True, not_found_ok=True)


if __name__ == "__main__":
    main()
