"""The served forecasts in BigQuery: each hour's Avro rows, loaded into ``station_predictions``.

The Avro file in GCS stays the artefact of record; the table is what live monitoring joins with the
outcomes (dbt ``model_performance``), what the freshness check counts and what the crew view reads.
Idempotent per hour: the hour's rows are deleted, then the new ones loaded (a load job, not streaming
inserts, so that a rerun's DELETE can touch them at once). A crash between the two leaves the hour
empty, never doubled, and the freshness check says so until a rerun loads it.
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
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import STATION_PREDICTIONS, STATION_PREDICTIONS_SPEC

COLUMNS = tuple(f.name for f in STATION_PREDICTIONS_SPEC.schema)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return value


def _hour_param(target_hour: datetime) -> bigquery.QueryJobConfig:
    return bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("hour", "TIMESTAMP", target_hour.astimezone(UTC))]
    )


def load_hour(records: Iterable[Mapping[str, Any]], target_hour: datetime, settings: Settings | None = None) -> int:
    """Replace the rows of ``target_hour`` with ``records`` (the hour's Avro records); returns the count."""
    s = settings or get_settings()
    rows = list(records)
    if any(r["target_hour"] != target_hour for r in rows):
        raise ValueError(f"every record must be for {target_hour.isoformat()}")
    client = clients.bigquery_client(s)
    table_id = s.table_id(STATION_PREDICTIONS)
    delete = f"DELETE FROM `{table_id}` WHERE target_hour = @hour"
    try:
        client.query(delete, job_config=_hour_param(target_hour)).result()
    except exceptions.NotFound:  # a deployment older than the table: its first load creates it
        resources.ensure_table(STATION_PREDICTIONS_SPEC, s)
    if not rows:
        return 0
    buffer = io.BytesIO()
    for row in rows:
        record = {c: _json_value(row.get(c)) for c in COLUMNS}
        buffer.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
    buffer.seek(0)
    config = bigquery.LoadJobConfig(
        source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
    )
    client.load_table_from_file(buffer, table_id, job_config=config).result(timeout=600)
    return len(rows)


def rows_for_hour(target_hour: datetime, settings: Settings | None = None) -> int:
    """How many stations have a served forecast for ``target_hour`` (0 if the table does not exist)."""
    s = settings or get_settings()
    sql = f"SELECT COUNT(*) AS n FROM `{s.table_id(STATION_PREDICTIONS)}` WHERE target_hour = @hour"
    try:
        result = clients.bigquery_client(s).query(sql, job_config=_hour_param(target_hour)).result()
    except exceptions.NotFound:
        return 0
    return int(next(iter(result))["n"])
