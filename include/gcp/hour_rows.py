"""Replace one hour's rows of a BigQuery table: the idempotent write of the hourly jobs.

The hour's rows are deleted, then the new ones loaded with a load job (NDJSON: the emulator's
``load_table_from_json`` fails, LOCAL_STACK.md), not streaming inserts, so that a rerun's DELETE can
touch them at once on BigQuery. A crash between the two leaves the hour empty, never doubled; the
next run of the hour fills it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions
from google.cloud import bigquery

from include.gcp import clients, resources
from include.gcp.events import format_ts
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import TableSpec


def _json_value(value: Any) -> Any:
    return format_ts(value) if isinstance(value, datetime) else value


def hour_param(hour: datetime) -> bigquery.QueryJobConfig:
    return bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("hour", "TIMESTAMP", hour.astimezone(UTC))]
    )


def replace_hour(
    spec: TableSpec, column: str, hour: datetime, rows: Iterable[Mapping[str, Any]], settings: Settings | None = None
) -> int:
    """Make ``rows`` the table's rows whose ``column`` equals ``hour``; returns how many were loaded."""
    s = settings or get_settings()
    rows = list(rows)
    if any(r[column] != hour for r in rows):
        raise ValueError(f"every row must have {column} = {hour.isoformat()}")
    client = clients.bigquery_client(s)
    table_id = s.table_id(spec.name)
    try:
        client.query(f"DELETE FROM `{table_id}` WHERE {column} = @hour", job_config=hour_param(hour)).result()
    except exceptions.NotFound:  # a deployment older than the table: its first write creates it
        resources.ensure_table(spec, s)
    if not rows:
        return 0
    names = [f.name for f in spec.schema]
    buffer = io.BytesIO()
    for row in rows:
        record = {c: _json_value(row.get(c)) for c in names}
        buffer.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
    buffer.seek(0)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    client.load_table_from_file(buffer, table_id, job_config=config).result(timeout=600)
    return len(rows)
