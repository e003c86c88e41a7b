"""Prediction rows → Avro (fastavro, the checked-in schema) → one object per predicted hour.

A rerun of an hour writes the same path again (atomically, temp object then copy), so it replaces the
file and never adds a second one.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

from include.gcp import bucket, paths
from include.gcp.settings import Settings, get_settings

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
    return list(fastavro.reader(io.BytesIO(data)))


def records(
    station_ids: list[str],
    net: list[float],
    pickups: list[float],
    dropoffs: list[float],
    target_hour: datetime,
    model_version: str,
    generated_at: datetime | None = None,
    net_mean: list[float] | None = None,
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
        }
        for sid, n, p, d, m in zip(station_ids, net, pickups, dropoffs, means, strict=True)
    ]


def write(
    records_: list[dict[str, Any]], model_version: str, target_hour: datetime, settings: Settings | None = None
) -> str:
    """Write the hour's predictions to ``{env}/predictions/{version}/{YYYY-MM-DD}/{HH}.avro``."""
    s = settings or get_settings()
    path = paths.predictions(s.env, model_version, target_hour)
    return bucket.write_bytes(path, to_avro(records_), "avro/binary", s)


def read(model_version: str, target_hour: datetime, settings: Settings | None = None) -> list[dict[str, Any]]:
    s = settings or get_settings()
    return from_avro(bucket.read_bytes(paths.predictions(s.env, model_version, target_hour), s))
