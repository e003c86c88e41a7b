"""Load event rows into ``raw_events`` with a BigQuery load job (the history loader, tests, benchmarks).

A load job of newline-delimited JSON, because ``load_table_from_json`` fails on the emulator
(docs/local-stack.md). Rows follow the event contract (:mod:`include.gcp.events`, e.g.
:meth:`Event.to_dict <include.gcp.events.Event.to_dict>`); ``ingested_at`` is added in
:func:`~include.gcp.events.format_ts`'s form. Beside :mod:`include.gcp.tables`, which defines the table.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from google.cloud import bigquery

from include.gcp import clients
from include.gcp.events import format_ts
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import RAW_EVENTS


def load_raw_events(
    rows: Iterable[Mapping[str, object]],
    settings: Settings | None = None,
    ingested_at: datetime | None = None,
    table: str = RAW_EVENTS,
) -> int:
    """Append the rows to ``raw_events`` (the table must exist); returns how many were loaded."""
    s = settings or get_settings()
    stamp = format_ts(ingested_at or datetime.now(UTC))
    buffer = io.BytesIO()
    count = 0
    for row in rows:
        record = dict(row)
        record.setdefault("ingested_at", stamp)
        buffer.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        count += 1
    if not count:
        return 0
    buffer.seek(0)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    client = clients.bigquery_client(s)
    client.load_table_from_file(buffer, s.table_id(table), job_config=config).result(timeout=600)
    return count
