"""The served forecasts in BigQuery: each run's Avro rows, loaded into ``station_predictions``.

The Avro file in GCS stays the artefact of record; the table is what live monitoring joins with the
outcomes (dbt ``model_performance``, horizon 1), what the freshness check counts (horizon 1), what the
crew view can read and what the rebalancing plan reads (:func:`rates_for_run`, horizons 1..3).

A run at cut-off ``T`` owns the rows with ``target_hour = T + (horizon - 1) h``; rows written before the
horizons have ``horizon`` NULL and are the next hour (1). Idempotent per run (include/gcp/hour_rows.py): a
rerun replaces exactly its run's rows, all horizons, and never the rows another run wrote for the same
target hours (run ``T - 1h``'s horizon 2 is hour ``T`` too); a crash between delete and load leaves the
run empty, and the freshness check says so until a rerun.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from google.api_core import exceptions
from google.cloud import bigquery

from include.gcp import clients
from include.gcp.hour_rows import hour_param, replace_rows
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import STATION_PREDICTIONS, STATION_PREDICTIONS_SPEC
from include.hours import Hour

# The farthest horizon a run may have written, in hours after T: bounds the run's target hours so a delete or
# read prunes the table's day partitions (today's runs reach T + 2h; a longer horizon later stays inside it).
MAX_HORIZON_HOURS = 24
HORIZON = "COALESCE(horizon, 1)"  # rows from before the horizons: the next hour
RUN_ROWS = (
    f"target_hour >= @hour AND target_hour < TIMESTAMP_ADD(@hour, INTERVAL {MAX_HORIZON_HOURS} HOUR) "
    f"AND TIMESTAMP_DIFF(target_hour, @hour, HOUR) = {HORIZON} - 1"
)
RATE_COLUMNS = ["station_id", "horizon", "predicted_pickups", "predicted_dropoffs", "model_version"]


def run_rows_of(record: Mapping[str, Any], cutoff: datetime) -> bool:
    """True if ``record`` is a row of the run at ``cutoff``: its target hour is ``cutoff`` + horizon - 1 hours."""
    horizon = int(record.get("horizon") or 1)
    return 1 <= horizon <= MAX_HORIZON_HOURS and record["target_hour"] == cutoff + timedelta(hours=horizon - 1)


def load_run(records: Iterable[Mapping[str, Any]], cutoff: datetime, settings: Settings | None = None) -> int:
    """Replace the rows of the run at ``cutoff`` (every horizon) with ``records`` (the run's Avro records);
    returns the count."""
    cutoff = Hour.of(cutoff).start
    records = list(records)
    stray = [r for r in records if not run_rows_of(r, cutoff)]
    if stray:
        raise ValueError(
            f"{len(stray)} record(s) are not of the run at {cutoff.isoformat()} "
            f"(target_hour = cut-off + horizon - 1 h): {stray[0]}"
        )
    return replace_rows(STATION_PREDICTIONS_SPEC, RUN_ROWS, cutoff, records, settings)


def load_hour(records: Iterable[Mapping[str, Any]], target_hour: datetime, settings: Settings | None = None) -> int:
    """:func:`load_run` of next-hour-only records (horizon 1: ``target_hour`` is the run's cut-off)."""
    return load_run(records, target_hour, settings)


def _query(sql: str, hour: datetime, settings: Settings) -> list[bigquery.Row]:
    return list(clients.bigquery_client(settings).query(sql, job_config=hour_param(hour)).result())


def rows_for_hour(target_hour: datetime, settings: Settings | None = None) -> int:
    """How many stations have a served next-hour forecast (horizon 1) for ``target_hour`` (0 if the table does
    not exist). Horizons 2 and 3 of earlier runs do not count: the hour's own run has not written them."""
    s = settings or get_settings()
    table = f"`{s.table_id(STATION_PREDICTIONS)}`"
    try:
        rows = _query(f"SELECT COUNT(*) AS n FROM {table} WHERE target_hour = @hour AND {HORIZON} = 1", target_hour, s)
    except exceptions.NotFound:
        return 0
    except exceptions.BadRequest:  # a table from before the horizons, not migrated yet: all its rows are hour +1
        rows = _query(f"SELECT COUNT(*) AS n FROM {table} WHERE target_hour = @hour", target_hour, s)
    return int(rows[0]["n"])


def rates_for_run(cutoff: datetime, settings: Settings | None = None) -> pd.DataFrame:
    """Each station's expected pickups and dropoffs per horizon, as served by the run at ``cutoff``: columns
    station_id, horizon (1 = ``[T, T+1h)``, 2, 3), predicted_pickups, predicted_dropoffs, model_version,
    ordered by station and horizon; empty (same columns) if the run served nothing. A run whose model is from
    before the horizons has horizon 1 only: the caller decides what stands in for the rest."""
    s = settings or get_settings()
    cutoff = Hour.of(cutoff).start
    sql = (
        f"SELECT station_id, {HORIZON} AS horizon, predicted_pickups, predicted_dropoffs, model_version "
        f"FROM `{s.table_id(STATION_PREDICTIONS)}` WHERE {RUN_ROWS} ORDER BY station_id, horizon"
    )
    try:
        rows = _query(sql, cutoff, s)
    except exceptions.NotFound:
        rows = []
    except exceptions.BadRequest:  # not migrated yet: the run's rows are its next hour's
        sql = (
            "SELECT station_id, 1 AS horizon, predicted_pickups, predicted_dropoffs, model_version "
            f"FROM `{s.table_id(STATION_PREDICTIONS)}` WHERE target_hour = @hour ORDER BY station_id"
        )
        rows = _query(sql, cutoff, s)
    frame = pd.DataFrame([dict(r) for r in rows], columns=RATE_COLUMNS)
    return frame.astype(
        {"station_id": str, "horizon": "int64", "predicted_pickups": "float64", "predicted_dropoffs": "float64"}
    )
