"""Bulk-load past trips straight into ``raw_events``: the history a new deployment starts from.

The stream carries what happens from now on; features (7-day and 4-week windows) and training
(weeks of labels) need the weeks before. Replaying months through Pub/Sub at a few hundred events/s
would take hours, so the archive goes in with one BigQuery load job instead, as the same event rows
(same deterministic ``event_id``) the pipeline would have written.

Idempotent: the rows are loaded into a staging table and merged into ``raw_events`` on ``event_id``,
so a rerun, or a window that overlaps what the stream already wrote, adds nothing twice.

    python -m include.simulator.history --month 2019-08 --month 2019-09 --to 2019-09-29T04:00Z
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from include.dbt.loading import load_raw_events
from include.gcp import clients, resources
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import RAW_EVENTS, RAW_EVENTS_SPEC
from include.simulator.sources import month_files, parse_time
from include.simulator.trips import ReplayStats, events_from_files


@dataclass(frozen=True)
class HistoryLoad:
    """What one load did: events read from the files, and how many were new to raw_events."""

    events: int
    inserted: int
    rejected_rows: dict[str, int]


def merge_sql(target: str, staging: str) -> str:
    """Insert the staging rows whose event_id raw_events does not have yet (one row per id)."""
    columns = ", ".join(f.name for f in RAW_EVENTS_SPEC.schema)
    return (
        f"MERGE `{target}` AS t USING (SELECT * FROM `{staging}`) AS s ON t.event_id = s.event_id "
        f"WHEN NOT MATCHED THEN INSERT ({columns}) VALUES ({', '.join('s.' + c for c in columns.split(', '))})"
    )


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
    events = events_from_files(paths, start=start, end=end, stats=stats)
    resources.ensure_bigquery(s)
    bq = clients.bigquery_client(s)
    target = s.table_id(RAW_EVENTS)
    staging = s.table_id(f"_history_staging_{uuid.uuid4().hex[:8]}")
    bq.create_table(RAW_EVENTS_SPEC.to_table(staging))
    try:
        load_raw_events((e.to_dict() for e in events), s, table=staging.rsplit(".", 1)[-1])
        job = bq.query(merge_sql(target, staging))
        job.result()
        inserted = int(job.num_dml_affected_rows or 0)
    finally:
        bq.delete_table(staging, not_found_ok=True)
    return HistoryLoad(events=len(events), inserted=inserted, rejected_rows=dict(stats.rejected or {}))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m include.simulator.history", description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="*", help="trip files (.csv or .zip)")
    p.add_argument("--month", action="append", default=[], help="YYYY-MM in BIKESHARE_TRIPS_DATA_DIR (repeatable)")
    p.add_argument("--from", dest="start", help="window start, ISO 8601, inclusive; naive = UTC")
    p.add_argument("--to", dest="end", help="window end, ISO 8601, exclusive; naive = UTC")
    args = p.parse_args(argv)
    result = load_history(args.month, args.files, parse_time(args.start), parse_time(args.end))
    print(json.dumps(asdict(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
