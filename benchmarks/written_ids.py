"""What "exactly once across restarts" costs: memory per million remembered ids, and the start-up read.

Two figures for ``include/beam/pipeline/written_ids.py`` and the keyed dedupe beside it:

1. **Memory per million ids** (tracemalloc, in this process): ``WrittenIds`` holding 1,000,000 ids of
   the simulator's form (``<20 hex>-p``) with their fingerprints, spread over 3 days; and the keyed
   dedupe's state for as many ids (``DedupeByEventId``: a bag of ``(id, arrival, fingerprint)`` per
   shard plus the per-bundle dict the DoFn reads it into).
2. **Start-up**: a new job reads each day of its late window from raw_events the first time an event
   needs it. ``--rows`` rows are loaded into one day of a throw-away ``raw_events`` on the BigQuery
   emulator (a load job), then ``SkipWritten.written_on`` reads them back, timed ``--repeat`` times.
   A job starting on the wall clock reads 3 days (48 h back, 5 min ahead).

    source scripts/dev_env.sh && make stack-up
    .venv/bin/python -m benchmarks.written_ids [--ids 1000000] [--rows 100000] [--repeat 3]

The machine's load (``uptime``) is printed before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import subprocess
import time
import tracemalloc
import uuid
from datetime import UTC, date, datetime, timedelta

import tests.conftest  # noqa: F401  (the emulator environment, as the tests set it)
from include.beam.pipeline import written_ids
from include.beam.pipeline.transforms import SkipWritten
from include.gcp import clients, resources
from include.gcp.events import Event, format_ts
from include.gcp.settings import get_settings
from include.gcp.tables import RAW_EVENTS
from tests.conftest import drop_resources

DAY = date(2019, 9, 9)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def events(n: int, days: int = 1) -> list[Event]:
    """``n`` events of the simulator's id form over ``days`` days from :data:`DAY`."""
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    step = timedelta(days=days) / n
    return [
        Event(start + i * step, f"{hashlib.sha1(str(i).encode()).hexdigest()[:20]}-p", str(3000 + i % 500), "pickup")
        for i in range(n)
    ]


def traced(build) -> tuple[object, int]:  # type: ignore[no-untyped-def]
    """What ``build()`` returns, and the bytes it holds allocated afterwards."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return kept, held


def memory(n: int) -> None:
    """Each structure built from bytes, as the query results and the state coder hand them over: its
    strings and ints are its own, so tracemalloc counts them."""
    sample = events(n, days=3)
    raw = [(e.event_id.encode(), e.fingerprint().to_bytes(8, "big"), e.ts.date()) for e in sample]

    def written() -> dict[date, dict[str, int]]:
        by_day: dict[date, dict[str, int]] = {}
        for event_id, fingerprint, day in raw:
            by_day.setdefault(day, {})[event_id.decode()] = int.from_bytes(fingerprint, "big")
        return by_day

    def keyed_state() -> tuple[list, dict]:
        bag = [
            (event_id.decode(), 1_567_987_200_000_000 + i, int.from_bytes(fp, "big"))
            for i, (event_id, fp, _) in enumerate(raw)
        ]
        return bag, {event_id: (arrival, fp) for event_id, arrival, fp in bag}

    for label, build in (("WrittenIds (id -> fingerprint by day)", written), ("keyed dedupe state", keyed_state)):
        _, held = traced(build)
        print(f"{label}: {held / 2**20:,.0f} MiB for {n:,} ids = {held / n:,.0f} bytes per id", flush=True)


def start_up(rows: int, repeat: int) -> None:
    s = get_settings().with_names(dataset=f"bench_written_{uuid.uuid4().hex[:6]}")
    resources.ensure_bigquery(s)
    table = s.table_id(RAW_EVENTS)
    try:
        ndjson = "\n".join(
            json.dumps({**e.to_dict(), "ingested_at": format_ts(e.ts)}) for e in events(rows, days=1)
        ).encode()
        job = clients.bigquery_client(s).load_table_from_file(io.BytesIO(ndjson), table, job_config=_ndjson_config())
        job.result()
        fn = SkipWritten(table)
        fn.setup()
        seconds = []
        for _ in range(repeat):
            started = time.monotonic()
            got = fn.written_on(DAY)
            seconds.append(time.monotonic() - started)
            assert len(got) == rows, (len(got), rows)
        median = statistics.median(seconds)
        print(
            f"start-up: one day of {rows:,} ids read from raw_events (BigQuery emulator) in {median:.2f} s "
            f"(median of {repeat}: {', '.join(f'{x:.2f}' for x in seconds)}) = {median / rows * 1e6:.1f} s "
            f"per million ids; a wall-clock start reads 3 days",
            flush=True,
        )
    finally:
        written_ids.forget_all()
        drop_resources(s)


def _ndjson_config():  # type: ignore[no-untyped-def]
    from google.cloud import bigquery

    return bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=1_000_000, help="ids held for the memory figure")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the day read at start-up")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load before: {uptime()}", flush=True)
    memory(args.ids)
    start_up(args.rows, args.repeat)
    print(f"load after: {uptime()}")


if __name__ == "__main__":
    main()
