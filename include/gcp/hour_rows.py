"""Replace one hour's rows of a BigQuery table: the idempotent write of the hourly jobs.

The hour's rows (:func:`replace_hour`: those whose column equals the hour; :func:`replace_rows`: those a
condition on the hour selects, e.g. one run's rows over several target hours) are deleted, then the new
ones loaded with a load job (NDJSON: the emulator's
``load_table_from_json`` fails, docs/local-stack.md), not streaming inserts, so that a rerun's DELETE can
touch them at once on BigQuery. A crash between the two leaves the hour empty, never doubled; the
next run of the hour fills it. A table older than its spec (a column the condition names is missing) is
brought to the spec first (:func:`include.gcp.resources.ensure_table`), then the delete runs again.
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


def hour_param(hour: datetime, system_id: str | None = None) -> bigquery.QueryJobConfig:
    """``@hour`` (and ``@system_id`` when given) for a query of one hour's rows."""
    params = [bigquery.ScalarQueryParameter("hour", "TIMESTAMP", hour.astimezone(UTC))]
    if system_id is not None:
        params.append(bigquery.ScalarQueryParameter("system_id", "STRING", system_id))
    return bigquery.QueryJobConfig(query_parameters=params)


def _system_scoped(spec: TableSpec) -> bool:
    return any(f.name == "system_id" for f in spec.schema)


def replace_hour(
    spec: TableSpec, column: str, hour: datetime, rows: Iterable[Mapping[str, Any]], settings: Settings | None = None
) -> int:
    """Make ``rows`` the table's rows whose ``column`` equals ``hour``; returns how many were loaded."""
    rows = list(rows)
    if any(r[column] != hour for r in rows):
        raise ValueError(f"every row must have {column} = {hour.isoformat()}")
    return replace_rows(spec, f"{column} = @hour", hour, rows, settings)


def replace_rows(
    spec: TableSpec, where: str, hour: datetime, rows: Iterable[Mapping[str, Any]], settings: Settings | None = None
) -> int:
    """Make ``rows`` the table's rows that the SQL condition ``where`` (on ``@hour``) selects; returns how many
    were loaded. The caller makes sure every row meets the condition. In a table keyed by system, only the
    settings' system's rows are replaced, and every row is stamped with that system."""
    s = settings or get_settings()
    rows = list(rows)
    system = s.system_id if _system_scoped(spec) else None
    if system is not None:
        where = f"({where}) AND system_id = @system_id"
        others = {r["system_id"] for r in rows if r.get("system_id") not in (None, system)}
        if others:
            raise ValueError(f"rows of {sorted(others)} written as {system}'s (Settings.for_system)")
        rows = [{**r, "system_id": system} for r in rows]
    client = clients.bigquery_client(s)
    table_id = s.table_id(spec.name)
    delete = f"DELETE FROM `{table_id}` WHERE {where}"
    try:
        client.query(delete, job_config=hour_param(hour, system)).result()
    except exceptions.NotFound:  # a deployment older than the table: its first write creates it
        resources.ensure_table(spec, s)
    except exceptions.BadRequest:
        have = {f.name for f in client.get_table(table_id).schema}
        if {f.name for f in spec.schema} <= have:
            raise
        resources.ensure_table(spec, s)  # older than its spec (the condition names a new column): migrate
        client.query(delete, job_config=hour_param(hour, system)).result()
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
