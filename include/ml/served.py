"""The served forecasts in BigQuery: each hour's Avro rows, loaded into ``station_predictions``.

The Avro file in GCS stays the artefact of record; the table is what live monitoring joins with the
outcomes (dbt ``model_performance``), what the freshness check counts and what the crew view can
read. Idempotent per hour (include/gcp/hour_rows.py): a rerun replaces the hour's rows; a crash
between delete and load leaves the hour empty, and the freshness check says so until a rerun.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from google.api_core import exceptions

from include.gcp import clients
from include.gcp.hour_rows import hour_param, replace_hour
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import STATION_PREDICTIONS, STATION_PREDICTIONS_SPEC


def load_hour(records: Iterable[Mapping[str, Any]], target_hour: datetime, settings: Settings | None = None) -> int:
    """Replace the rows of ``target_hour`` with ``records`` (the hour's Avro records); returns the count."""
    return replace_hour(STATION_PREDICTIONS_SPEC, "target_hour", target_hour, records, settings)


def rows_for_hour(target_hour: datetime, settings: Settings | None = None) -> int:
    """How many stations have a served forecast for ``target_hour`` (0 if the table does not exist)."""
    s = settings or get_settings()
    sql = f"SELECT COUNT(*) AS n FROM `{s.table_id(STATION_PREDICTIONS)}` WHERE target_hour = @hour"
    try:
        result = clients.bigquery_client(s).query(sql, job_config=hour_param(target_hour)).result()
    except exceptions.NotFound:
        return 0
    return int(next(iter(result))["n"])
