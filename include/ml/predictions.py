"""Prediction rows → Avro (fastavro, the checked-in schema) → one object per run.

The run at cut-off ``T`` writes one object, keyed by ``T`` (``include/gcp/paths.py``), holding each station's
rows for horizons 1..3 (``target_hour`` = ``T``, ``T+1h``, ``T+2h``). Files written before the horizons hold
horizon 1 only and lack the field: they are read with the current schema as the reader's, so every record
has ``horizon`` (1 for them). A rerun of a run writes the same path again (atomically, temp object then
copy), so it replaces the file and never adds a second one. A rerun of an hour that was served already writes
``{env}/{system_id}/predictions_backfill/{YYYY-MM-DD}/{HH}.avro`` instead (:func:`write_backfill`,
include/ml/served.py): the served file stays as it was.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

from include.gcp import bucket, paths
from include.gcp.settings import Settings, get_settings
from include.systems import DEFAULT_SYSTEM

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "prediction.avsc"


@cache
def schema() -> dict[str, Any]:
    return fastavro.parse_schema(json.loads(SCHEMA_PATH.read_text()))


def to_avro(records: list[dict[str, Any]]) -> bytes:
    """Avro container bytes of prediction records (validated against the schema)."""
    buf = io.BytesIO()
    fastavro.writer(buf, schema(), records, validator=True)
    return buf.getvalue()


def from_avro(data: bytes) -> list[dict[str, Any]]:
    """The records of a file written with this schema or an earlier one (missing fields get their default)."""
    return list(fastavro.reader(io.BytesIO(data), reader_schema=schema()))


def next_hour(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The horizon-1 records (the hour ``[T, T+1h)``) of a run's file: what the next hour's readers want."""
    return [r for r in records if r.get("horizon", 1) == 1]


def records(
    station_ids: list[str],
    net: list[float],
    pickups: list[float],
    dropoffs: list[float],
    target_hour: datetime,
    model_version: str,
    generated_at: datetime | None = None,
    net_mean: list[float] | None = None,
    horizon: int = 1,
    system_id: str = DEFAULT_SYSTEM,
) -> list[dict[str, Any]]:
    generated_at = generated_at or datetime.now(UTC)
    means = [None] * len(station_ids) if net_mean is None else [float(m) for m in net_mean]
    return [
        {
            "station_id": str(sid),
            "target_hour": target_hour,
            "predicted_net_change": float(n),
            "predicted_pickups": float(p),
            "predicted_dropoffs": float(d),
            "model_version": model_version,
            "generated_at": generated_at,
            "predicted_net_change_mean": m,
            "horizon": horizon,
            "system_id": system_id,
        }
        for sid, n, p, d, m in zip(station_ids, net, pickups, dropoffs, means, strict=True)
    ]


def write(
    records_: list[dict[str, Any]], model_version: str, cutoff: datetime, settings: Settings | None = None
) -> str:
    """Write the run's predictions (all horizons) to
    ``{env}/{system_id}/predictions/{version}/{YYYY-MM-DD}/{HH}.avro`` of its cut-off ``T``."""
    s = settings or get_settings()
    path = paths.predictions(s.system_root, model_version, cutoff)
    return bucket.write_bytes(path, to_avro(records_), "avro/binary", s)


def read(model_version: str, cutoff: datetime, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every record of the run at ``cutoff`` (all horizons; :func:`next_hour` keeps horizon 1)."""
    s = settings or get_settings()
    return from_avro(bucket.read_bytes(paths.predictions(s.system_root, model_version, cutoff), s))


def write_backfill(records_: list[dict[str, Any]], cutoff: datetime, settings: Settings | None = None) -> str:
    """Write a rerun's predictions of a run that was served already to ``{env}/{system_id}/predictions_backfill/...`` of
    its cut-off ``T`` (replacing the previous rerun's file of that hour, never the served one)."""
    s = settings or get_settings()
    return bucket.write_bytes(paths.predictions_backfill(s.system_root, cutoff), to_avro(records_), "avro/binary", s)


def read_backfill(cutoff: datetime, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every record of the newest rerun of the run at ``cutoff`` (:func:`write_backfill`)."""
    s = settings or get_settings()
    return from_avro(bucket.read_bytes(paths.predictions_backfill(s.system_root, cutoff), s))
