"""The whole hourly cycle at 53, 500, 2,000 and 5,000 stations (issue 24 §6), on the local stack.

    .venv/bin/python -m benchmarks.country [--sizes 53,1x500,4x500,10x500] [--history-days 21]
        [--features-days 14] [--fit-beside 500x26] [--keep]

Per size, in a throw-away dataset, bucket, topic and systems file (``53`` is the real Jersey City: the
seed's system and its 2019 trips; ``KxN`` is the synthetic country of ``include/simulator/country.py``):

0. setup, not part of the hour: ``--history-days`` of events before the hour through the history loader (a day
   per load), the seeds (plus the country's systems and stations), and a first dbt build of the last
   ``--features-days`` (the training window available); then each system is fitted at the hour's start (a child
   process each: train and publish, seconds and the process's peak RSS, ``VmHWM``): the model that serves the
   hour under the daily cadence, and the fit's cost;
1. **ingest**: the hour's events published to Pub/Sub with the replay's clock, through the streaming pipeline on
   the DirectRunner into ``raw_events`` (events/s from the first publish to the last row);
2. **features**: the four 15-minute increments of the hour, each one ``dbt build`` as the features DAG runs it
   (models and their tests; no seeds, unit tests or monitoring);
3. **inventory**: the local GBFS server rebuilds each system's docks from the same messages (its own
   subscription); each system's feed is polled into ``station_status``;
4. **per system**, one child process each, as the DAG's mapped task group runs them: the serving model
   (``hourly.serving_for``, daily), predict, write the Avro, and plan the rebalancing; seconds per step.

With ``--fit-beside 500x26`` a fit of the first system on that many stations and weeks (its rows tiled from the
real ones, as ``--train-at``) starts with the hour and runs beside it, as on a daily fitting hour: the fits run one
at a time (``BIKESHARE_ML_FITS_AT_ONCE``), so at most one shares the machine with the hour's path. When the hour
is over, the CPU seconds the fit got meanwhile are printed and it is stopped (its time alone: ``--train-at``).

End to end is printed twice: every system fitting on the hour's path (the hourly cadence), and the default
**daily** cadence, where no fit is on the path (the hour is served by the model fitted before it): the steps' sum
(the DAG runs two systems at a time: a bound from above) and the hour's wall clock with the fit beside it. The
emulator line times one fixed read (an hour of events grouped by station) against the rows in ``raw_events``; the
BigQuery column is docs/country.md §4's estimate of bytes an increment scans (0.82 MB per station) at $6.25/TiB.

``uptime``'s load average is printed beside each figure. Needs the local stack (``make stack-up``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from include.gcp.settings import PROJECT_ROOT, Settings, get_settings

HOUR_END = datetime(2019, 9, 23, 22, 0, tzinfo=UTC)  # a Monday: 18:00 in New York, 15:00 in Los Angeles
STEP = timedelta(minutes=15)
BYTES_PER_STATION_INCREMENT = 4.1e9 / 5000  # docs/country.md §4, as landed
USD_PER_TIB = 6.25
INCREMENTS_PER_MONTH = 4 * 24 * 30
REAL = "53"


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def peak_rss_mb(pid: int | str = "self") -> float:
    """The process's peak resident set (``VmHWM``), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Size:
    """One size: ``53`` (the real Jersey City) or ``KxN`` (the synthetic country)."""

    label: str
    systems: list[str] = field(default_factory=list)
    zones: dict[str, str] = field(default_factory=dict)
    stations: int = 0
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def real(self) -> bool:
        return self.label == REAL

    def spec(self) -> Any:
        from include.simulator.country import CountrySpec, parse_size

        k, n = parse_size(self.label)
        return CountrySpec(k, n)


# ---- events ---------------------------------------------------------------------------------------------------


def days(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    day = start
    while day < end:
        yield day, min(day + timedelta(days=1), end)
        day += timedelta(days=1)


def events_between(size: Size, start: datetime, end: datetime) -> list[Any]:
    """The size's events with ``start <= ts < end``: Jersey City's trip files, or the country's generator."""
    if size.real:
        from include.simulator import trip_data
        from include.simulator.trips import events_from_files

        months = sorted({f"{d:%Y-%m}" for d in (start, end - timedelta(seconds=1))})
        return events_from_files(trip_data.ensure_trip_files(months), start=start, end=end)
    from include.simulator.country import country_events

    return country_events(size.spec(), start, end)


# ---- setup ----------------------------------------------------------------------------------------------------


def sql_literal(value: str | None, kind: str) -> str:
    if value is None or value == "":
        return "NULL"
    if kind == "STRING":
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if kind == "BOOL":
        return "true" if value.lower() == "true" else "false"
    return value


def insert_rows(settings: Settings, table: str, rows: list[dict[str, str | None]]) -> None:
    """Append ``rows`` (CSV strings) to a seed table, typed by its schema; a few thousand rows per statement."""
    from include.gcp import clients

    client = clients.bigquery_client(settings)
    schema = {f.name: f.field_type for f in client.get_table(settings.table_id(table)).schema}
    columns = list(schema)
    for start in range(0, len(rows), 2000):
        values = ", ".join(
            "(" + ", ".join(sql_literal(r.get(c), schema[c]) for c in columns) + ")" for r in rows[start : start + 2000]
        )
        client.query(f"insert into `{settings.table_id(table)}` ({', '.join(columns)}) values {values}").result()


def country_seeds(size: Size, settings: Settings, folder: Path) -> None:
    """The country's systems replace the seed's; its stations join the seed's (dbt reads both tables)."""
    from include.gcp import clients
    from include.simulator.country import station_information

    client = clients.bigquery_client(settings)
    client.query(f"delete from `{settings.table_id('systems')}` where true").result()
    with (folder / "systems.csv").open() as f:
        insert_rows(settings, "systems", list(csv.DictReader(f)))
    stations = []
    for system_id in size.systems:
        for st in station_information(size.spec(), system_id)["data"]["stations"]:
            row = {k: str(st[k]) for k in ("station_id", "name", "lat", "lon", "capacity")}
            stations.append({"system_id": system_id, **row})
    insert_rows(settings, "stations", stations)


def setup(size: Size, settings: Settings, folder: Path, args: argparse.Namespace, target: Path) -> None:
    from include.dbt.cosmos_tasks import BUILD_EXCLUDE
    from include.dbt.runner import dbt_vars, run_dbt
    from include.gcp import resources
    from include.simulator import history

    resources.ensure_all(settings)
    hour_start = HOUR_END - timedelta(hours=1)
    began, loaded = time.monotonic(), 0
    for day_start, day_end in days(hour_start - timedelta(days=args.history_days), hour_start):
        loaded += history.load_events(events_between(size, day_start, day_end), settings).inserted
    size.figures["history"] = {"events": loaded, "s": round(time.monotonic() - began, 1), "load": load()}
    print(f"  history: {loaded:,} events in {size.figures['history']['s']} s (load {load()})", flush=True)
    run_dbt(["seed"], settings, target_path=target)
    if not size.real:
        country_seeds(size, settings, folder)
    began = time.monotonic()
    run_dbt(
        ["build", "--exclude", *BUILD_EXCLUDE],
        settings,
        vars=dbt_vars(as_of=hour_start, features_start=hour_start - timedelta(days=args.features_days)),
        target_path=target,
    )
    size.figures["first_build_s"] = round(time.monotonic() - began, 1)
    print(f"  first build of {args.features_days} days: {size.figures['first_build_s']} s (load {load()})", flush=True)


# ---- 1. ingest and 3. the GBFS server -------------------------------------------------------------------------


def ingest(size: Size, settings: Settings, events: list[Any], tag: str, before_publish: Callable[[], Any]) -> Any:
    """The hour's events through Pub/Sub and the Beam pipeline (DirectRunner) into raw_events. Returns what
    ``before_publish`` returned: it runs once the pipeline is up (its probe landed), before the hour is sent."""
    from google.cloud import bigquery

    from benchmarks.ingest_throughput import publish, running_pipeline, wait_for_rows
    from include.gcp import clients
    from include.gcp.events import Event
    from include.gcp.tables import RAW_EVENTS

    bq = clients.bigquery_client(settings)

    def rows() -> int:
        return next(iter(bq.query(f"select count(*) n from `{settings.table_id(RAW_EVENTS)}`").result())).n

    before = rows()
    log = PROJECT_ROOT / ".local" / f"bench-country-{tag}.log"
    probe = Event(datetime(2019, 1, 1, tzinfo=UTC), f"probe-{tag}", "probe", "pickup", system_id=size.systems[0])
    with running_pipeline(settings, f"bench-{tag}", log) as proc:
        publish(settings, [probe], 0)
        wait_for_rows(settings, before + 1, 180, proc)
        started = before_publish()
        began = time.time()
        _, publish_s = publish(settings, events, 0)
        landed, _ = wait_for_rows(settings, before + 1 + len(events), 60, proc)
        pipeline_peak = peak_rss_mb(proc.pid)
    bq.query(f"delete from `{settings.table_id(RAW_EVENTS)}` where event_id = '{probe.event_id}'").result()
    got = landed - before - 1
    if got != len(events):
        raise SystemExit(f"ingest: {got} of {len(events)} events landed (pipeline log {log})")
    start, end = HOUR_END - timedelta(hours=1), HOUR_END
    table = settings.table_id(RAW_EVENTS)
    last_row = f"select max(ingested_at) t from `{table}` where ts_iso >= @start and ts_iso < @end"
    params = [bigquery.ScalarQueryParameter(n, "TIMESTAMP", v) for n, v in (("start", start), ("end", end))]
    landed_at = next(iter(bq.query(last_row, job_config=bigquery.QueryJobConfig(query_parameters=params)).result())).t
    seconds = landed_at.timestamp() - began  # the first publish to the last row's ingested_at (stamped at insert)
    size.figures["ingest"] = {
        "events": len(events),
        "s": round(seconds, 1),
        "events_per_s": round(len(events) / seconds),
        "publish_s": round(publish_s, 1),
        "pipeline_peak_mb": round(pipeline_peak),
        "load": load(),
    }
    print(f"  ingest: {size.figures['ingest']}", flush=True)
    return started


def start_feed_server(size: Size, settings: Settings, folder: Path) -> Any:
    """The local GBFS server of the size's systems, subscribed before the hour is published."""
    import socket

    from include.gbfs.server import FeedServer
    from include.gbfs.settings import GbfsSettings
    from include.simulator.trip_data import VENDORED_STATION_INFORMATION

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gbfs = GbfsSettings(
        url=f"http://127.0.0.1:{port}/gbfs.json",
        clock="feed",
        subscription=f"{settings.topic}-gbfs",
        station_information=VENDORED_STATION_INFORMATION,
        station_information_dir=None if size.real else folder,
    )
    return FeedServer(settings, gbfs, "127.0.0.1", port).start()


def poll_feeds(size: Size, settings: Settings, server: Any, expected: int) -> None:
    """Wait until the server applied the hour's messages, then poll each system's feed into station_status."""
    from include.gbfs.poll import poll
    from include.gbfs.settings import GbfsSettings

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        seen = sum(sum(f.counts.values()) for f in server.feeds.feeds.values())
        if seen >= expected:
            break
        time.sleep(0.5)
    began = time.monotonic()
    for system_id in size.systems:
        g = GbfsSettings(url=f"{server.url}/{system_id}/gbfs.json", clock="feed")
        result = poll(settings, g, now=HOUR_END, force=True, system_id=system_id)
        if result.dead_letters:
            print(f"  poll {system_id}: dead letters {result.dead_letters}", flush=True)
    size.figures["poll_s"] = round(time.monotonic() - began, 1)
    print(f"  GBFS polls of {len(size.systems)} systems: {size.figures['poll_s']} s (load {load()})", flush=True)


# ---- 2. features ----------------------------------------------------------------------------------------------


def increments(size: Size, settings: Settings, target: Path) -> None:
    from include.dbt.cosmos_tasks import BUILD_EXCLUDE
    from include.dbt.runner import dbt_vars, run_dbt

    seconds, models = [], {}
    for k in range(1, 5):
        as_of = HOUR_END - timedelta(hours=1) + k * STEP
        result = run_dbt(
            ["build", "--exclude", *BUILD_EXCLUDE], settings, vars=dbt_vars(as_of=as_of), target_path=target
        )
        seconds.append(round(result.seconds, 1))
        results = json.loads((target / "run_results.json").read_text())["results"]
        models = {r["unique_id"].split(".")[-1]: round(r["execution_time"], 1) for r in results}
    size.figures["increments_s"] = seconds
    size.figures["wide_model_s"] = models.get("station_features_wide")
    print(f"  feature increments (dbt build, s): {seconds} (load {load()})", flush=True)


def timed_hour_read(bq: Any, table: str) -> float:
    """Seconds of the hour's events grouped by station (best of 3): one fixed read, timed against table size."""
    start = HOUR_END - timedelta(hours=1)
    sql = (
        f"select system_id, station_id, count(*) n from `{table}` where ts_iso >= timestamp '{start.isoformat()}' "
        f"and ts_iso < timestamp '{HOUR_END.isoformat()}' group by 1, 2"
    )
    times = []
    for _ in range(3):
        began = time.monotonic()
        list(bq.query(sql).result())
        times.append(time.monotonic() - began)
    return min(times)


def emulator_read(size: Size, settings: Settings) -> None:
    """:func:`timed_hour_read` on the size's raw_events: the emulator's share of the cost."""
    from include.gcp import clients

    bq = clients.bigquery_client(settings)
    table = settings.table_id("raw_events")
    rows = next(iter(bq.query(f"select count(*) n from `{table}`").result())).n
    size.figures["emulator_read"] = {"raw_events_rows": rows, "s": round(timed_hour_read(bq, table), 2), "load": load()}


def emulator_scaling(sizes: Sequence[int]) -> list[dict[str, Any]]:
    """The same two requests at growing ``raw_events`` sizes, in a dataset of their own: a 500-row streaming
    insert (what ingest does per bundle) and the hour's read grouped by station. BigQuery's time for both does
    not depend on the table's size (the insert is an append, the read prunes to one day partition)."""

    from include.gcp import clients, resources
    from include.gcp.tables import RAW_EVENTS

    settings = get_settings().with_names(dataset=f"bench_emulator_{uuid.uuid4().hex[:8]}")
    resources.ensure_bigquery(settings)
    bq = clients.bigquery_client(settings)
    table = settings.table_id(RAW_EVENTS)
    start = HOUR_END - timedelta(hours=1)
    out, rows = [], 0
    try:
        for target in sizes:
            if target > rows:  # rows spread over the 21 days before the hour, 500 stations
                bq.query(
                    f"insert into `{table}` (system_id, event_id, station_id, ts_iso, kind, delta, ingested_at) "
                    f"select 'syn-01', concat('e', cast(n as string)), cast(mod(n, 500) as string), "
                    f"timestamp_sub(timestamp '{start.isoformat()}', interval mod(n, 1814400) second), "
                    f"if(mod(n, 2) = 0, 'pickup', 'dropoff'), 1, current_timestamp() "
                    f"from unnest(generate_array({rows}, {target - 1})) as n"
                ).result()
                rows = target
            inserts = []
            for k in range(4):
                batch = [
                    {
                        "system_id": "syn-01",
                        "event_id": f"probe-{rows}-{k}-{i}",
                        "station_id": str(i % 500),
                        "ts_iso": start.isoformat(),
                        "kind": "pickup",
                        "delta": 1,
                        "ingested_at": start.isoformat(),
                    }
                    for i in range(500)
                ]
                began = time.monotonic()
                errors = bq.insert_rows_json(table, batch, row_ids=[r["event_id"] for r in batch])
                inserts.append(time.monotonic() - began)
                if errors:
                    raise SystemExit(f"emulator insert refused rows: {errors[:3]}")
            figure = {
                "raw_events_rows": rows,
                "insert_rows_per_s": round(500 / statistics.median(inserts)),
                "hour_read_s": round(timed_hour_read(bq, table), 2),
                "load": load(),
            }
            print(f"  emulator at {rows:,} rows: {figure}", flush=True)
            out.append(figure)
    finally:
        bq.delete_dataset(settings.dataset, delete_contents=True, not_found_ok=True)
    return out


# ---- 4. per system --------------------------------------------------------------------------------------------


def system_fit(system_id: str, cutoff: datetime) -> dict[str, Any]:
    """One system's fit and publish at ``cutoff`` (the child process's work): the model that serves the next hour."""
    from include.ml import hourly
    from include.ml.cadence import TrainCadence

    s = get_settings().for_system(system_id)
    out: dict[str, Any] = {"system_id": system_id}
    began = time.monotonic()
    evaluation = hourly.train_and_evaluate(cutoff, settings=s, cadence=TrainCadence("hourly"))
    out["train_s"] = round(time.monotonic() - began, 1)
    out["rows"], out["gate"], out["promoted"] = evaluation.rows, evaluation.gate, evaluation.promoted
    began = time.monotonic()
    hourly.publish(cutoff, evaluation, settings=s)
    out["publish_s"] = round(time.monotonic() - began, 1)
    out["peak_rss_mb"] = round(peak_rss_mb())
    out["load"] = load()
    return out


def system_hour(system_id: str, cutoff: datetime) -> dict[str, Any]:
    """One system's hour on the serving path as its mapped tasks run it under the daily cadence (the child
    process's work): the serving model (fitted before the hour), predict, the Avro write, the plan."""
    from include.ml import hourly
    from include.ml.cadence import TrainCadence
    from include.rebalancing import hourly as rebalancing

    s = get_settings().for_system(system_id)
    out: dict[str, Any] = {"system_id": system_id}
    began = time.monotonic()
    chosen = hourly.serving_for(cutoff, s, TrainCadence("daily"))
    out["serving_s"] = round(time.monotonic() - began, 1)
    if chosen is None or chosen.serving_version is None:
        raise SystemExit(f"{system_id}: no promoted model before {cutoff:%Y-%m-%d %H:%M} to serve the hour")
    out["serving_version"] = chosen.serving_version
    began = time.monotonic()
    predictions = hourly.predict(cutoff, chosen.serving_version, s)
    hourly.write_predictions(cutoff, chosen.serving_version, predictions, s)
    out["predict_s"] = round(time.monotonic() - began, 1)
    out["predictions"] = len(predictions)
    began = time.monotonic()
    plan = rebalancing.run(cutoff, s)
    out["plan_s"] = round(time.monotonic() - began, 1)
    out["plan"] = {k: plan.get(k) for k in ("stations", "moves", "bikes_moved")}
    out["peak_rss_mb"] = round(peak_rss_mb())
    out["load"] = load()
    return out


def tiled_read(real_read: Callable[..., Any], stations: int, weeks: int) -> Callable[..., Any]:
    """``dataset._read_arrow`` returning the real rows tiled to ``stations`` stations and ``weeks`` weeks: station
    copies get a suffix, time copies are shifted back by whole multiples of the real span (weekdays kept). It
    returns Arrow as the real read does, so the read's conversion to pandas is the real one, in the figure. The
    copies share the real rows' buffers (only the station and time columns are new), so the stand-in adds little
    to the peak: building them in pandas held the window three times and was the child's peak itself."""
    import pandas as pd
    import pyarrow as pa

    def scan(table: str, restriction: str, settings: Settings, columns: tuple[str, ...] = ()) -> Any:
        read = real_read(table, restriction, settings, columns)
        time_col = "as_of" if "as_of" in read.column_names else "hour_start"
        moments = read.column(time_col).to_pandas()
        span = pd.Timedelta(days=14)  # the features built (--features-days' default): features and labels alike
        recent = (moments > moments.max() - span).to_numpy()
        base, moments = read.filter(pa.array(recent)), moments[recent].reset_index(drop=True)
        del read
        ids = base.column("station_id").to_pandas().astype(str).reset_index(drop=True)
        copies_t = max(1, -(-weeks * 7 // span.days))
        copies_s = max(1, -(-stations // max(1, ids.nunique())))
        suffixes = [f"~{i}" if i else "" for i in range(copies_s)]
        # exactly ``stations`` stations, the same ones in both tables
        kept = set(sorted({f"{station}{suffix}" for station in ids.unique() for suffix in suffixes})[:stations])
        station_at, time_at = base.schema.get_field_index("station_id"), base.schema.get_field_index(time_col)
        parts = []
        for suffix in suffixes:
            copy_ids = ids + suffix
            keep = copy_ids.isin(kept).to_numpy()
            rows = base.filter(pa.array(keep))
            field = base.schema.field(station_at)
            rows = rows.set_column(station_at, field, pa.array(copy_ids[keep].to_numpy(), field.type))
            for k in range(copies_t):
                shifted = pa.array(moments[keep] - k * span, type=base.schema.field(time_at).type)
                parts.append(rows.set_column(time_at, base.schema.field(time_at), shifted))
        return pa.concat_tables(parts)

    return scan


def train_at(system_id: str, cutoff: datetime, stations: int, weeks: int) -> dict[str, Any]:
    """One system's fit at ``stations`` stations and a ``weeks`` window, its rows tiled from the real ones."""
    from include.gcp import resources
    from include.ml import dataset, hourly
    from include.ml.cadence import TrainCadence

    # a bucket of its own: the hour's model is committed in the size's bucket already, and would be reused
    s = get_settings().for_system(system_id).with_names(bucket=f"{get_settings().bucket}-fit")
    resources.ensure_bucket(s)
    dataset._read_arrow = tiled_read(dataset._read_arrow, stations, weeks)  # the stand-in for a bigger table
    config = hourly.TrainConfig(window_weeks=weeks)
    began = time.monotonic()
    evaluation = hourly.train_and_evaluate(cutoff, config, settings=s, cadence=TrainCadence("hourly"))
    return {
        "system_id": system_id,
        "stations": stations,
        "weeks": weeks,
        "rows": evaluation.rows,
        "train_s": round(time.monotonic() - began, 1),
        "peak_rss_mb": round(peak_rss_mb()),
        "load": load(),
    }


def each_system(size: Size, flag: str, label: str) -> list[dict[str, Any]]:
    """``--<flag> <system>`` in a child process per system, one after the other; their JSON results."""
    results = []
    for system_id in size.systems:
        result = run_child([flag, system_id], f"{system_id}'s {label}")
        results.append(result)
        print(f"  {label}: {json.dumps(result)}", flush=True)
    return results


def fit_before_hour(size: Size) -> None:
    """Each system's fit at the hour's start (its data to then): the model the hour is served by, and the fit's
    cost on the benchmark's window. Under the hourly cadence this fit is on the hour's path; under daily, beside it."""
    size.figures["fits"] = each_system(size, "--system-fit", "fit")


def per_system(size: Size) -> None:
    size.figures["systems"] = each_system(size, "--system-hour", "serve")


# ---- figures --------------------------------------------------------------------------------------------------


def busiest_daily_fits(size: Size) -> list[str]:
    """The systems fitting in the UTC hour where most fit under the default daily cadence."""
    from include.ml.cadence import TrainCadence

    daily = TrainCadence("daily")
    day = HOUR_END.replace(hour=0)
    by_hour = [[s for s in size.systems if daily.fits(day + timedelta(hours=h), size.zones[s])] for h in range(1, 25)]
    return max(by_hour, key=len)


def summarise(size: Size) -> dict[str, Any]:
    f = size.figures
    systems, fitted = f["systems"], f["fits"]
    serve = sum(r["serving_s"] + r["predict_s"] + r["plan_s"] for r in systems)
    fits = [r["train_s"] + r["publish_s"] for r in fitted]
    path = f["ingest"]["s"] + sum(f["increments_s"]) + f["poll_s"] + serve  # the forecasts and plans of the hour
    beside = f.get("fit_beside")
    return {
        "stations": size.stations,
        "systems": len(size.systems),
        "events_per_s": f["ingest"]["events_per_s"],
        "increment_s_median": statistics.median(f["increments_s"]),
        "train_s_max": max(r["train_s"] for r in fitted),
        "train_peak_rss_mb_max": max(r["peak_rss_mb"] for r in fitted),
        "predict_s_max": max(r["predict_s"] for r in systems),
        "plan_s_max": max(r["plan_s"] for r in systems),
        # the hourly cadence: every system's fit on the hour's path
        "end_to_end_all_fit_s": round(path + sum(fits), 1),
        # daily: no fit on the path (hourly.serving_for); the steps' sum, and the same hour's wall clock, measured
        # with the fit beside it (--fit-beside) as on a fitting hour
        "end_to_end_daily_s": round(path, 1),
        "path_wall_s": f["path_wall_s"],
        "daily_fits_in_busiest_hour": len(busiest_daily_fits(size)),
        "s_per_1000_stations_daily": round(path / size.stations * 1000, 1),
        "fit_beside": beside,
        "bq_bytes_per_increment_gb": round(BYTES_PER_STATION_INCREMENT * size.stations / 1e9, 2),
        "bq_usd_per_month": round(
            BYTES_PER_STATION_INCREMENT * size.stations * INCREMENTS_PER_MONTH / 2**40 * USD_PER_TIB, 1
        ),
        "emulator_read": f["emulator_read"],
        "history": f["history"],
        "first_build_s": f["first_build_s"],
        "load": load(),
    }


# ---- one size -------------------------------------------------------------------------------------------------


def scoped(size: Size, folder: Path, tag: str) -> Settings:
    """Point this process (and its children) at the size's own dataset, bucket, topic and systems file."""
    from include.simulator.country import country_systems, write_country
    from include.systems import all_systems, time_zone

    os.environ.update(
        BIKESHARE_BQ_DATASET=f"bench_country_{tag}",
        BIKESHARE_GCS_BUCKET=f"bench-country-{tag}",
        BIKESHARE_PUBSUB_TOPIC=f"bench-country-{tag}",
        BIKESHARE_PUBSUB_SUBSCRIPTION=f"bench-country-{tag}-sub",
    )
    if size.real:
        os.environ.pop("BIKESHARE_SYSTEMS_FILE", None)
    else:
        write_country(size.spec(), folder)
        os.environ["BIKESHARE_SYSTEMS_FILE"] = str(folder / "systems.csv")
    get_settings.cache_clear()
    if size.real:
        size.systems = list(all_systems())
        size.stations = 53
    else:
        size.systems = [s.system_id for s in country_systems(size.spec())]
        size.stations = size.spec().systems * size.spec().stations_per_system
    size.zones = {s: time_zone(s) for s in size.systems}
    return get_settings()


def drop(settings: Settings) -> None:
    from google.api_core.exceptions import NotFound

    from include.gcp import clients

    clients.bigquery_client(settings).delete_dataset(settings.dataset, delete_contents=True, not_found_ok=True)
    for name in (settings.bucket, f"{settings.bucket}-fit"):  # the size's, and --train-at's
        with suppress(NotFound):
            bucket = clients.storage_client(settings).bucket(name)
            for blob in list(bucket.list_blobs()):
                blob.delete()
            bucket.delete()
    with suppress(NotFound), clients.subscriber_client(settings) as sub:
        for name in (settings.subscription, f"{settings.topic}-gbfs"):
            with suppress(NotFound):
                sub.delete_subscription(subscription=f"projects/{settings.project}/subscriptions/{name}")
    with suppress(NotFound):
        clients.publisher_client(settings).delete_topic(topic=settings.topic_path)


def start_child(args: list[str]) -> subprocess.Popen[str]:
    """``python -m benchmarks.country <args>`` in a child process of its own (its own peak RSS), started."""
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.country", *args],
        cwd=PROJECT_ROOT,
        env={**os.environ, **get_settings().emulator_env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish_child(child: subprocess.Popen[str], what: str) -> dict[str, Any]:
    """The child's last line of output, as JSON, once it ends; its error if it failed."""
    out, err = child.communicate()
    if child.returncode != 0:
        raise SystemExit(f"{what} failed:\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])


def run_child(args: list[str], what: str) -> dict[str, Any]:
    return finish_child(start_child(args), what)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process not reaped yet (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 1)


def stop_child(child: subprocess.Popen[str], seconds: float, what: str) -> dict[str, Any]:
    """The fit beside the hour when the hour is over: the CPU it got meanwhile, then stopped (its own time is
    measured alone: ``--train-at``); a fit that failed before is an error, not a figure."""
    cpu, finished = cpu_seconds(child.pid), child.poll() is not None
    if finished:
        finish_child(child, what)
    else:
        child.kill()
        child.communicate()
    return {
        "cpu_s_during_hour": cpu,
        "hour_s": seconds,
        "still_fitting": not finished,
        "cpu_share": round(cpu / seconds, 2),
    }


def measure(label: str, args: argparse.Namespace, train_at: str | None = None) -> dict[str, Any]:
    size, tag = Size(label), uuid.uuid4().hex[:8]
    folder = Path(tempfile.mkdtemp(prefix=f"country-{label}-"))
    settings = scoped(size, folder, tag)
    print(f"== {label}: {size.stations:,} stations in {len(size.systems)} system(s) (load {load()})", flush=True)
    target = folder / "target"
    servers: list[Any] = []
    try:
        setup(size, settings, folder, args, target)
        fit_before_hour(size)
        hour = events_between(size, HOUR_END - timedelta(hours=1), HOUR_END)
        beside = args.fit_beside and start_child(["--train-child", f"{size.systems[0]}:{args.fit_beside}"])
        hour_began = time.monotonic()
        # the GBFS server subscribes after the probe landed: its clock starts with the hour
        ingest(size, settings, hour, tag, lambda: servers.append(start_feed_server(size, settings, folder)))
        poll_feeds(size, settings, servers[0], len(hour))
        increments(size, settings, target)
        emulator_read(size, settings)
        per_system(size)
        size.figures["path_wall_s"] = round(time.monotonic() - hour_began, 1)
        if beside:
            what = f"the fit beside the hour ({args.fit_beside})"
            size.figures["fit_beside"] = stop_child(beside, size.figures["path_wall_s"], what)
            print(f"  the fit beside the hour: {json.dumps(size.figures['fit_beside'])}", flush=True)
        summary = summarise(size)
        if train_at:
            summary["train_at"] = run_child(["--train-child", f"{size.systems[0]}:{train_at}"], f"train at {train_at}")
        print(f"  summary: {json.dumps(summary)}", flush=True)
        return summary
    finally:
        for server in servers:
            server.stop()
        if args.keep:
            print(f"  kept dataset {settings.dataset}, bucket {settings.bucket}")
        else:
            drop(settings)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.country", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="53,1x500,4x500,10x500", help="comma-separated: 53 (real) or KxN")
    parser.add_argument("--history-days", type=int, default=21, help="days of events loaded before the hour")
    parser.add_argument("--features-days", type=int, default=14, help="days of features built (training window)")
    parser.add_argument("--keep", action="store_true", help="keep each size's dataset and bucket")
    parser.add_argument("--system-hour", help=argparse.SUPPRESS)  # the child: one system's hour, JSON on stdout
    parser.add_argument(
        "--train-at",
        metavar="STATIONSxWEEKS",
        help="after the sizes (kept), fit the last size's first system at this many stations and weeks, its "
        "rows tiled from the real ones (e.g. 1587x26: New York's size, the default window)",
    )
    parser.add_argument(
        "--emulator-scaling",
        metavar="ROWS,...",
        help="only time the emulator's streaming insert and hour read at these raw_events sizes (e.g. "
        "100000,1000000,3000000,6400000)",
    )
    parser.add_argument(
        "--fit-beside",
        metavar="STATIONSxWEEKS",
        help="run a fit of the first system at this size (rows tiled, as --train-at) beside each size's hour, as "
        "the daily cadence does on its fitting hour (e.g. 500x26: the default window), and time the hour with it",
    )
    parser.add_argument("--system-fit", help=argparse.SUPPRESS)  # the child: one system's fit before the hour
    parser.add_argument("--train-child", help=argparse.SUPPRESS)  # the child of --train-at: SYSTEM:STATIONSxWEEKS
    args = parser.parse_args(argv)
    if args.system_hour:
        print(json.dumps(system_hour(args.system_hour, HOUR_END)))
        return
    if args.system_fit:
        print(json.dumps(system_fit(args.system_fit, HOUR_END - timedelta(hours=1))))
        return
    if args.emulator_scaling:
        emulator_scaling([int(x) for x in args.emulator_scaling.split(",")])
        return
    if args.train_child:
        system_id, shape = args.train_child.split(":")
        stations, weeks = (int(x) for x in shape.split("x"))
        print(json.dumps(train_at(system_id, HOUR_END, stations, weeks)))
        return
    if args.features_days + 7 > args.history_days:
        parser.error("--history-days must cover --features-days plus the 7 days the weekly lags read")
    print(f"hour {HOUR_END - timedelta(hours=1):%Y-%m-%d %H:%M}-{HOUR_END:%H:%M} UTC; {os.cpu_count()} cores")
    labels = [label.strip() for label in args.sizes.split(",")]
    summaries = [
        measure(label, args, args.train_at if i == len(labels) - 1 else None) for i, label in enumerate(labels)
    ]
    print(
        "\n| stations | events/s | increment s | train s (max) | peak RSS MB | predict s | plan s | "
        "hour s, all fit | hour s, daily (wall, fit beside) | s / 1,000 st. | BQ GB / incr. | "
        "$ / month | emulator read | load |"
    )
    print("|" + "---|" * 14)
    for s in summaries:
        print(
            f"| {s['stations']:,} | {s['events_per_s']} | {s['increment_s_median']} | {s['train_s_max']} | "
            f"{s['train_peak_rss_mb_max']} | {s['predict_s_max']} | {s['plan_s_max']} | {s['end_to_end_all_fit_s']} | "
            f"{s['end_to_end_daily_s']} ({s['path_wall_s']}{', a fit beside' if s['fit_beside'] else ''}) | "
            f"{s['s_per_1000_stations_daily']} | "
            f"{s['bq_bytes_per_increment_gb']} | {s['bq_usd_per_month']} | "
            f"{s['emulator_read']['s']} s / {s['emulator_read']['raw_events_rows']:,} rows | {s['load']} |"
        )
    print(
        f"benchmark process peak RSS {peak_rss_mb():.0f} MB; children's largest "
        f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB"
    )


if __name__ == "__main__":
    main()
