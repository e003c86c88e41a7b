"""Bulk-load past trips straight into ``raw_events``: the history a new deployment starts from.

The stream carries what happens from now on; features (7-day and 4-week windows) and training
(weeks of labels) need the weeks before. Replaying months through Pub/Sub at a few hundred events/s
would take hours, so the archive goes in with one BigQuery load job instead, as the same event rows
(same deterministic ``event_id``) the pipeline would have written.

Idempotent: the rows are loaded into a staging table and merged into ``raw_events`` on ``event_id``
(the staging side deduplicated too), so a rerun, a file given twice, or a window that overlaps what
the stream already wrote, adds nothing twice. The staging table expires after a day, and every load
first drops the staging tables a killed load left more than an hour ago.

Validation: every event passes the same contract as a streamed one (:mod:`include.gcp.events`:
fields, id patterns, kind, delta, timestamp form) except the time window around the ingest clock,
which past months are outside of by definition; an event that fails is not loaded and is counted by
reason in the result (``rejected_events``), as unusable trip-file rows are (``rejected_rows``).

    python -m include.simulator.history --month 2019-08 --month 2019-09 --to 2019-09-29T04:00Z
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta

from google.cloud import bigquery

from include.gcp import clients, resources
from include.gcp.events import Event, InvalidEvent, validate_record
from include.gcp.raw_events import load_raw_events
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import RAW_EVENTS, RAW_EVENTS_SPEC
from include.simulator.sources import month_files, parse_time
from include.simulator.trips import ReplayStats, events_from_files
from include.systems import DEFAULT_SYSTEM

STAGING_PREFIX = "_history_staging_"
STAGING_TTL = timedelta(days=1)  # the table's own expiry: BigQuery drops a killed load's leftover
STALE_STAGING = timedelta(hours=1)  # older leftovers are dropped by the next load (the emulator ignores expiry)


@dataclass(frozen=True)
class HistoryLoad:
    """What one load did: events read from the files, how many were new to raw_events, what was refused."""

    events: int
    inserted: int
    rejected_rows: dict[str, int]  # trip-file rows that yield no event, by reason
    rejected_events: dict[str, int] = field(default_factory=dict)  # events failing the contract, by reason code
    duplicates_in_input: int = 0  # the same event_id more than once in the files (loaded once)
    stale_staging_dropped: list[str] = field(default_factory=list)


def merge_sql(target: str, staging: str) -> str:
    """Insert the staging rows whose key ``(system_id, event_id)`` raw_events does not have yet, one row per
    key (a row written before systems, ``system_id`` NULL, is the default system's)."""
    columns = ", ".join(f.name for f in RAW_EVENTS_SPEC.schema)
    source = (
        f"SELECT * FROM `{staging}` WHERE TRUE "  # QUALIFY beside a WHERE, as older BigQuery releases want
        "QUALIFY ROW_NUMBER() OVER (PARTITION BY system_id, event_id ORDER BY ts_iso, station_id, kind) = 1"
    )
    return (
        f"MERGE `{target}` AS t USING ({source}) AS s "
        f"ON t.event_id = s.event_id AND COALESCE(t.system_id, '{DEFAULT_SYSTEM}') = s.system_id "
        f"WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({', '.join('s.' + c for c in columns.split(', '))})"
    )


def drop_stale_staging(bq: bigquery.Client, s: Settings, now: datetime | None = None) -> list[str]:
    """Drop the staging tables killed loads left behind (created over :data:`STALE_STAGING` ago)."""
    cutoff = (now or datetime.now(UTC)) - STALE_STAGING
    dropped = []
    for item in bq.list_tables(f"{s.project}.{s.dataset}"):
        if not item.table_id.startswith(STAGING_PREFIX):
            continue
        table = bq.get_table(item.reference)
        if table.created is not None and table.created < cutoff:
            bq.delete_table(item.reference, not_found_ok=True)
            dropped.append(item.table_id)
    return dropped


def valid_events(loaded: Sequence[Event]) -> tuple[list[Event], Counter[str], int]:
    """The events that pass the contract (no time window), once per key ``(system_id, event_id)``; refusals
    by reason."""
    kept: dict[str, Event] = {}
    refused: Counter[str] = Counter()
    duplicates = 0
    for event in loaded:
        try:
            validate_record(event.to_dict())
        except InvalidEvent as err:
            refused[err.code] += 1
            continue
        if event.key in kept:
            duplicates += 1
            continue
        kept[event.key] = event
    return list(kept.values()), refused, duplicates


def load_history(
    months: Sequence[str] = (),
    files: Sequence[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
    settings: Settings | None = None,
) -> HistoryLoad:
    """Load the events of ``[start, end)`` of the trip files into raw_events, skipping ids already there."""
    s = settings or get_settings()
    paths = [*files, *(p for m in months for p in month_files(m, s.trips_data_dir))]
    if not paths:
        raise ValueError("give trip files or months to load")
    stats = ReplayStats()
    loaded = events_from_files(paths, start=start, end=end, stats=stats)
    return load_events(loaded, s, dict(stats.rejected or {}))


def load_events(
    loaded: Sequence[Event], settings: Settings | None = None, rejected_rows: dict[str, int] | None = None
) -> HistoryLoad:
    """Load events (the trip files', or the synthetic country's: ``country_events``) into raw_events the same
    way: checked against the contract, once per key, skipping keys already there."""
    s = settings or get_settings()
    valid, refused, duplicates = valid_events(loaded)
    resources.ensure_bigquery(s)
    bq = clients.bigquery_client(s)
    dropped = drop_stale_staging(bq, s)
    target = s.table_id(RAW_EVENTS)
    staging = s.table_id(f"{STAGING_PREFIX}{uuid.uuid4().hex[:8]}")
    table = RAW_EVENTS_SPEC.to_table(staging)
    table.expires = datetime.now(UTC) + STAGING_TTL
    bq.create_table(table)
    try:
        load_raw_events((e.to_dict() for e in valid), s, table=staging.rsplit(".", 1)[-1])
        job = bq.query(merge_sql(target, staging))
        job.result()
        inserted = int(job.num_dml_affected_rows or 0)
    finally:
        bq.delete_table(staging, not_found_ok=True)
    return HistoryLoad(
        events=len(loaded),
        inserted=inserted,
        rejected_rows=rejected_rows or {},
        rejected_events=dict(sorted(refused.items())),
        duplicates_in_input=duplicates,
        stale_staging_dropped=dropped,
    )


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m include.simulator.history", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*", help="trip files (.csv or .zip)")
    p.add_argument(
        "--month", action="append", default=[], help="YYYY-MM, repeatable (BIKESHARE_TRIPS_DATA_DIR or cache)"
    )
    p.add_argument("--from", dest="start", help="window start, ISO 8601, inclusive; naive = UTC")
    p.add_argument("--to", dest="end", help="window end, ISO 8601, exclusive; naive = UTC")
    p.add_argument("--country", metavar="KxN", help="the synthetic country's events of --from/--to instead of files")
    p.add_argument("--seed", type=int, default=0, help="the country's seed")
    args = p.parse_args(argv)
    start, end = parse_time(args.start), parse_time(args.end)
    if args.country:
        from include.simulator.country import CountrySpec, country_events, parse_size

        if start is None or end is None:
            p.error("--country needs --from and --to")
        result = load_events(country_events(CountrySpec(*parse_size(args.country), seed=args.seed), start, end))
    else:
        result = load_history(args.month, args.files, start, end)
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
