"""The served forecasts in BigQuery: each run's Avro rows, loaded into ``station_predictions``; what was served
stays as served.

The Avro file in GCS stays the artefact of record; the table is what live monitoring joins with the
outcomes (dbt ``model_performance``, horizon 1), what the freshness check counts (horizon 1), what the
crew view can read and what the rebalancing plan reads (:func:`rates_for_run`, horizons 1..3).

A run at cut-off ``T`` owns the rows with ``target_hour = T + (horizon - 1) h``; rows written before the
horizons have ``horizon`` NULL and are the next hour (1). Loading is idempotent per run
(include/gcp/hour_rows.py): :func:`load_run` replaces exactly its run's rows, all horizons, and never the rows
another run wrote for the same target hours (run ``T - 1h``'s horizon 2 is hour ``T`` too).

**Served or backfill, decided at write time** (:func:`write_run`, the one place): the first run of the hour
``T`` whose rows reach ``station_predictions`` is the hour's record (its Avro file under
``predictions/{version}/``, its rows in ``station_predictions``). Every later run of the same ``T`` (a backfill
from the UI or the API, a cleared task, a rerun) finds those rows and writes elsewhere: its Avro file to
``predictions_backfill/{YYYY-MM-DD}/{HH}.avro`` and its rows to ``station_predictions_backfill`` (with the
Airflow ``run_id``), the newest rerun of the hour replacing the previous one there. The served rows and file are
never replaced or deleted. The hourly DAG also predicts such a rerun with the model version that served the hour
(:func:`served_version`, read from the served rows; include/ml/hourly.py ``publish``), not with a model trained
since, so the rerun is comparable with what was served.

Why a table of its own and not a ``served`` flag in ``station_predictions``: every reader of the served table
(``model_performance``, the freshness check, the plan's rates, the crew view, the per-station errors) stays
right without a filter it could forget, and rows from before this rule (no flag to read) are the served ones
by construction. An hour that never served (a backfill of hours before the project went live, or after an
outage) is served by its first run, predicted point-in-time (features as of ``T``, the newest verified promoted
model at or before ``T``): what the pipeline would have served then, which ``model_performance`` then scores.

Limits: the check and the write are not one transaction; two runs of the same hour at once (the DAG's runs of
one logical date never overlap, a manual run at 09:17 beside the scheduled 09:00 could) may both find no served
rows. A crash between the file and the rows leaves the hour without served rows (the freshness check alerts),
and the next run of the hour serves it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from google.api_core import exceptions
from google.cloud import bigquery

from include.gcp import clients
from include.gcp.hour_rows import hour_param, replace_rows
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import (
    STATION_PREDICTIONS,
    STATION_PREDICTIONS_BACKFILL_SPEC,
    STATION_PREDICTIONS_SPEC,
)
from include.hours import Hour
from include.ml import predictions

log = logging.getLogger(__name__)

# The farthest horizon a run may have written, in hours after T: bounds the run's target hours so a delete or
# read prunes the table's day partitions (today's runs reach T + 2h; a longer horizon later stays inside it).
MAX_HORIZON_HOURS = 24
HORIZON = "COALESCE(horizon, 1)"  # rows from before the horizons: the next hour
RUN_ROWS = (
    f"target_hour >= @hour AND target_hour < TIMESTAMP_ADD(@hour, INTERVAL {MAX_HORIZON_HOURS} HOUR) "
    f"AND TIMESTAMP_DIFF(target_hour, @hour, HOUR) = {HORIZON} - 1"
)
SYSTEM = "system_id = @system_id"  # a per-system task reads its own system's rows only
RATE_COLUMNS = ["station_id", "horizon", "predicted_pickups", "predicted_dropoffs", "model_version"]


def run_rows_of(record: Mapping[str, Any], cutoff: datetime) -> bool:
    """True if ``record`` is a row of the run at ``cutoff``: its target hour is ``cutoff`` + horizon - 1 hours."""
    horizon = int(record.get("horizon") or 1)
    return 1 <= horizon <= MAX_HORIZON_HOURS and record["target_hour"] == cutoff + timedelta(hours=horizon - 1)


def _of_system(record: Mapping[str, Any], settings: Settings) -> bool:
    """True for a record of the settings' system (or of none yet); one of another system is an error."""
    if record.get("system_id") not in (None, settings.system_id):
        raise ValueError(f"a record of {record['system_id']!r} in a run of {settings.system_id!r}: {dict(record)}")
    return True


def _run_records(records: Iterable[Mapping[str, Any]], cutoff: datetime) -> list[Mapping[str, Any]]:
    records = list(records)
    stray = [r for r in records if not run_rows_of(r, cutoff)]
    if stray:
        raise ValueError(
            f"{len(stray)} record(s) are not of the run at {cutoff.isoformat()} "
            f"(target_hour = cut-off + horizon - 1 h): {stray[0]}"
        )
    return records


def load_run(records: Iterable[Mapping[str, Any]], cutoff: datetime, settings: Settings | None = None) -> int:
    """Replace the rows of the run at ``cutoff`` (every horizon) in ``station_predictions`` with ``records`` (the
    run's Avro records); returns the count. Low level: the hourly run goes through :func:`write_run`, which
    calls this only for the hour's first write."""
    cutoff = Hour.of(cutoff).start
    return replace_rows(STATION_PREDICTIONS_SPEC, RUN_ROWS, cutoff, _run_records(records, cutoff), settings)


def load_backfill(
    records: Iterable[Mapping[str, Any]], cutoff: datetime, run_id: str | None = None, settings: Settings | None = None
) -> int:
    """Replace the rows of the run at ``cutoff`` in ``station_predictions_backfill`` (a rerun of a served hour)
    with ``records``, each marked with ``run_id``; returns the count."""
    cutoff = Hour.of(cutoff).start
    rows = [{**r, "run_id": run_id} for r in _run_records(records, cutoff)]
    return replace_rows(STATION_PREDICTIONS_BACKFILL_SPEC, RUN_ROWS, cutoff, rows, settings)


def served_version(cutoff: datetime, settings: Settings | None = None) -> str | None:
    """The model version whose forecasts the run at ``cutoff`` served (its rows in ``station_predictions``, any
    horizon), or None if the hour has no served rows (or the table does not exist yet)."""
    s = settings or get_settings()
    cutoff = Hour.of(cutoff).start
    table = f"`{s.table_id(STATION_PREDICTIONS)}`"
    tail = "GROUP BY model_version ORDER BY COUNT(*) DESC, model_version LIMIT 1"
    try:
        rows = _query(f"SELECT model_version FROM {table} WHERE {RUN_ROWS} AND {SYSTEM} {tail}", cutoff, s)
    except exceptions.NotFound:
        return None
    except exceptions.BadRequest:  # a table from before the horizons: the run's rows are its next hour's
        rows = _query(f"SELECT model_version FROM {table} WHERE target_hour = @hour {tail}", cutoff, s)
    return str(rows[0]["model_version"]) if rows else None


@dataclass(frozen=True)
class Written:
    """Where :func:`write_run` put a run's forecasts: ``served`` (the hour's record) or a rerun's backfill."""

    path: str
    rows: int
    served: bool
    served_version: str  # the model whose forecasts are the hour's record (this run's, when it served)


def write_run(
    records: list[dict[str, Any]],
    cutoff: datetime,
    model_version: str,
    run_id: str | None = None,
    settings: Settings | None = None,
) -> Written:
    """Write a run's records (every horizon, all of ``model_version``): the hour's record if nothing was served
    for ``cutoff`` yet (Avro under ``predictions/{version}/``, rows in ``station_predictions``), else a backfill
    (Avro under ``predictions_backfill/``, rows in ``station_predictions_backfill``); the served ones untouched."""
    s = settings or get_settings()
    cutoff = Hour.of(cutoff).start
    records = [{**r, "system_id": s.system_id} for r in _run_records(records, cutoff) if _of_system(r, s)]
    first = served_version(cutoff, s)
    if first is None:
        path = predictions.write(records, model_version, cutoff, s)
        return Written(path, load_run(records, cutoff, s), True, model_version)
    path = predictions.write_backfill(records, cutoff, s)
    loaded = load_backfill(records, cutoff, run_id, s)
    log.warning(
        "the hour %s was served already (model %s, in station_predictions): this run's forecasts (model %s) are a "
        "backfill, written to %s and station_predictions_backfill; the served forecasts are unchanged",
        cutoff.isoformat(),
        first,
        model_version,
        path,
    )
    return Written(path, loaded, False, first)


def load_hour(records: Iterable[Mapping[str, Any]], target_hour: datetime, settings: Settings | None = None) -> int:
    """:func:`load_run` of next-hour-only records (horizon 1: ``target_hour`` is the run's cut-off)."""
    return load_run(records, target_hour, settings)


def _query(sql: str, hour: datetime, settings: Settings) -> list[bigquery.Row]:
    """``sql`` with ``@hour`` and ``@system_id`` (the settings' system: :data:`SYSTEM` scopes a read to it)."""
    config = hour_param(hour, settings.system_id)
    return list(clients.bigquery_client(settings).query(sql, job_config=config).result())


def rows_for_hour(target_hour: datetime, settings: Settings | None = None) -> int:
    """How many stations have a served next-hour forecast (horizon 1) for ``target_hour`` (0 if the table does
    not exist). Horizons 2 and 3 of earlier runs do not count: the hour's own run has not written them."""
    s = settings or get_settings()
    table = f"`{s.table_id(STATION_PREDICTIONS)}`"
    try:
        where = f"target_hour = @hour AND {HORIZON} = 1 AND {SYSTEM}"
        rows = _query(f"SELECT COUNT(*) AS n FROM {table} WHERE {where}", target_hour, s)
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
        f"FROM `{s.table_id(STATION_PREDICTIONS)}` WHERE {RUN_ROWS} AND {SYSTEM} ORDER BY station_id, horizon"
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
