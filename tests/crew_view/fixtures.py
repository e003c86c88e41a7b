"""A small served world for the crew view on the local stack: a committed model, its PNG, one hour of Avro
predictions, the stations seed, (optionally) ``model_performance`` rows, and two plan hours of
``station_risk`` and ``rebalancing_plan`` written through the real BigQuery client (the hourly producer's
tables; the tests write their own rows).

Built in a dataset and bucket of its own (derived from the session's names), because the view reads
``latest.json`` and the session's shared bucket belongs to the ML tests too. Used by tests/crew_view
and tests/browser.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from google.api_core.exceptions import NotFound
from google.cloud import bigquery

from include.crew_view.sources import MODEL_PERFORMANCE
from include.gcp import clients, hour_rows, resources, tables
from include.gcp.settings import Settings
from include.ml import predictions, registry
from include.ml.baselines import BASELINES
from include.ml.model import StationFlowModel

VERSION = "20190930T0400Z"
TARGET_HOUR = datetime(2019, 9, 30, 4, tzinfo=UTC)
# station_id, name, lat, lon, capacity (Jersey City rows of the real seed) + a name that must be escaped
SEED = (
    ("3186", "Grove St PATH", 40.71958611647166, -74.04311746358871, 41),
    ("3192", "Liberty Light Rail", 40.7112423, -74.0557013, 22),
    ("3195", "Sip Ave", 40.73089709786179, -74.06391263008118, 34),
    ("3203", "Hamilton Park", 40.727595966, -74.044247311, 26),
    ("3267", "Morris Canal", 40.7124188237569, -74.03852552175522, 14),
    ("3269", "Brunswick & 6th <b>", 40.72601172964625, -74.05038893222809, 14),
    ("3638", "Washington St", 40.7242941, -74.0354826, 18),
    ("3639", "Harborside", 40.7192517, -74.034234, 30),
)
# station_id, net (median: integers), mean, pickups, dropoffs; "9999" is not in the seed
PREDICTIONS = (
    ("3186", -4.0, -3.6, 6.1, 2.5),
    ("3192", 0.0, 0.2, 0.8, 1.0),
    ("3195", 1.0, 0.9, 0.4, 1.3),
    ("3203", -1.0, -1.2, 2.0, 0.8),
    ("3267", 0.0, -0.1, 0.5, 0.4),
    ("3269", 2.0, 2.4, 1.1, 3.5),
    ("3638", 0.0, 0.4, 0.3, 0.7),
    ("3639", 3.0, 2.9, 0.6, 3.5),
    ("9999", 1.0, 1.1, 0.2, 1.3),
)
RANKED = ("3186", "3639", "3269", "3203", "9999", "3195", "3638", "3192", "3267")

# The plan: a weekday morning (Mon 30 Sep 2019, 7:00 am in Jersey City) and the hour before it.
PLAN_HOUR = datetime(2019, 9, 30, 11, tzinfo=UTC)
EARLIER_HOUR = PLAN_HOUR - timedelta(hours=1)
PLAN_VERSION = VERSION
_RISK_FIELDS = (
    "station_id", "capacity", "bikes", "p_empty_1h", "p_empty_3h", "p_full_1h", "p_full_3h",
    "target_low", "target_high", "reachable", "bikes_after_plan", "problem",
)  # fmt: skip
# At 7 am the PATH stations fill (riders leave for Manhattan) and the residential ones empty.
RISK = (
    ("3186", 41, 36, 0.0, 0.0, 0.41, 0.63, 12, 30, True, 28, None),
    ("3639", 30, 27, 0.0, 0.0, 0.28, 0.52, 8, 22, True, 22, None),
    ("3203", 26, 2, 0.62, 0.85, 0.0, 0.0, 8, 20, True, 8, None),
    ("3269", 14, 1, 0.35, 0.60, 0.0, 0.0, 4, 11, True, 3, None),
    ("3195", 34, 4, 0.22, 0.47, 0.0, 0.0, 9, 26, True, 9, None),
    ("3192", 22, 11, 0.01, 0.04, 0.0, 0.02, 5, 17, True, 11, None),
    ("3267", 14, 7, 0.02, 0.08, 0.03, 0.07, 3, 11, True, 7, None),
    ("3638", 18, 9, 0.08, 0.14, 0.06, 0.12, 9, 9, False, 9, None),  # no count is safe for 3 h
    # the producer's problems (include/rebalancing/hourly.py): not judged, or judged but not to be trusted blindly
    ("3481", 0, 0, None, None, None, None, None, None, None, None, "no capacity known"),
    ("3211", 22, 12, 0.02, 0.06, 0.01, 0.05, 5, 17, True, 12, "no coordinates"),  # judged, not planned
    ("3184", 14, 5, 0.04, 0.12, 0.0, 0.01, 4, 11, True, 5, "status is 190 min old"),
    ("3185", 22, None, None, None, None, None, None, None, None, None, "no status reported"),
)
EXTRA_STATIONS = {  # not in SEED: name, lat, lon (3211 has no coordinates)
    "3481": ("York St", 40.71649, -74.04105),
    "3211": ("Newark Ave", None, None),
    "3184": ("Paulus Hook", 40.7141454, -74.0335519),
    "3185": ("City Hall", 40.7177325, -74.043845),
}
STALE = "3184"
# truck, move_order, from, to, bikes: truck 1 unloads at Hamilton Park and loads there for the next move
MOVES = (
    (1, 1, "3186", "3203", 8),
    (1, 2, "3203", "3269", 2),
    (2, 1, "3639", "3195", 5),
)
EARLIER_MOVES = ((1, 1, "3186", "3203", 4),)
WARNED = ("3481", "3211", "3184", "3185", "3638")


def risk_rows(hour: datetime = PLAN_HOUR, stations: tuple = RISK) -> list[dict]:
    """``station_risk`` rows of ``hour``: ``stations`` joined with the names and places of SEED and EXTRA_STATIONS."""
    seed = {sid: (name, lat, lon) for sid, name, lat, lon, _ in SEED} | EXTRA_STATIONS
    rows = []
    for values in stations:
        row = dict(zip(_RISK_FIELDS, values, strict=True))
        name, lat, lon = seed[row["station_id"]]
        reported = hour - (timedelta(hours=3, minutes=10) if row["station_id"] == STALE else timedelta(minutes=2))
        rows.append(
            row
            | {
                "plan_hour": hour,
                "name": name,
                "lat": lat,
                "lon": lon,
                "status_reported_at": None if row["bikes"] is None else reported,
                "expected_pickups_3h": None if row["p_empty_1h"] is None else 6.0,
                "expected_dropoffs_3h": None if row["p_empty_1h"] is None else 4.5,
                "service_level": 0.10,
                "model_version": None if row["p_empty_1h"] is None else PLAN_VERSION,
                "generated_at": hour + timedelta(minutes=4),
            }
        )
    return rows


def plan_rows(hour: datetime = PLAN_HOUR, moves: tuple = MOVES) -> list[dict]:
    return [
        {
            "plan_hour": hour,
            "truck": truck,
            "move_order": order,
            "from_station": a,
            "to_station": b,
            "bikes": n,
            "generated_at": hour + timedelta(minutes=4),
        }
        for truck, order, a, b, n in moves
    ]


def write_plan(settings: Settings, hour: datetime, risk: list[dict], moves: list[dict]) -> None:
    """One plan hour, written as the hourly producer does: ``replace_hour`` (delete the hour, load its rows)."""
    hour_rows.replace_hour(tables.STATION_RISK_SPEC, "plan_hour", hour, risk, settings)
    hour_rows.replace_hour(tables.REBALANCING_PLAN_SPEC, "plan_hour", hour, moves, settings)


def write_plans(settings: Settings) -> None:
    """The 6 am hour (seed stations, one move) and the 7 am hour (every case the view flags)."""
    seed_ids = {sid for sid, *_ in SEED}
    earlier = tuple(r for r in RISK if r[0] in seed_ids)
    write_plan(settings, EARLIER_HOUR, risk_rows(EARLIER_HOUR, earlier), plan_rows(EARLIER_HOUR, EARLIER_MOVES))
    write_plan(settings, PLAN_HOUR, risk_rows(PLAN_HOUR), plan_rows(PLAN_HOUR))


@dataclass(frozen=True)
class World:
    settings: Settings
    version: str = VERSION
    target_hour: datetime = TARGET_HOUR


def own_settings(base: Settings, suffix: str) -> Settings:
    """A dataset and bucket of this module's own, created now."""
    s = base.with_names(dataset=f"{base.dataset}_{suffix}", bucket=f"{base.bucket}-{suffix.replace('_', '-')}")
    resources.ensure_dataset(s)
    resources.ensure_bucket(s)
    return s


def drop(settings: Settings) -> None:
    clients.bigquery_client(settings).delete_dataset(settings.dataset, delete_contents=True, not_found_ok=True)
    with suppress(NotFound):
        clients.storage_client(settings).bucket(settings.bucket).delete(force=True)


def png(width: int = 64, height: int = 32, rgb: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A valid RGB PNG of one colour (standard library only)."""
    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def metrics() -> dict[str, dict[str, float]]:
    out = {"model": {"mae": 0.95, "rmse": 1.40, "precision_at_10": 0.41, "precision_at_10_by_volume": 0.3}}
    for i, name in enumerate(BASELINES):
        out[name] = {"mae": 1.05 + 0.1 * i, "rmse": 1.5 + 0.1 * i, "precision_at_10": float("nan") if i == 0 else 0.3}
    return out


def write_model(settings: Settings, version: str = VERSION, with_png: bool = True) -> None:
    sha = registry.save_model(version, StationFlowModel(["net_change_1h"]), settings)  # unfitted: never predicts
    if with_png:
        registry.save_plot(version, png(), settings)
    registry.commit(
        version,
        {
            "version": version,
            "trained_at": "2019-09-30T04:02:11+00:00",
            "cutoff_hour": "2019-09-30T04:00:00+00:00",
            "metrics": metrics(),
            "promoted": True,
            "gate": "model MAE 0.950 beats every baseline (best: zero 1.050)",
            registry.MODEL_SHA256: sha,
        },
        settings,
    )
    registry.point_latest(version, settings)


def write_predictions(settings: Settings, version: str = VERSION, hour: datetime = TARGET_HOUR) -> str:
    ids, net, mean, pickups, dropoffs = zip(*PREDICTIONS, strict=True)
    recs = predictions.records(
        list(ids), list(net), list(pickups), list(dropoffs), hour, version, hour + timedelta(minutes=3), list(mean)
    )
    return predictions.write(recs, version, hour, settings)


def _load(settings: Settings, table: str, schema: list[bigquery.SchemaField], rows: list[dict]) -> None:
    client = clients.bigquery_client(settings)
    table_id = settings.table_id(table)
    client.delete_table(table_id, not_found_ok=True)
    client.create_table(bigquery.Table(table_id, schema=schema))
    if not rows:  # the emulator refuses an empty upload
        return
    data = "\n".join(json.dumps(r) for r in rows).encode()
    config = bigquery.LoadJobConfig(source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON, schema=schema)
    client.load_table_from_file(io.BytesIO(data), table_id, job_config=config).result()


def load_stations(settings: Settings) -> None:
    schema = [
        bigquery.SchemaField("station_id", "STRING"),
        bigquery.SchemaField("name", "STRING"),
        bigquery.SchemaField("lat", "FLOAT64"),
        bigquery.SchemaField("lon", "FLOAT64"),
        bigquery.SchemaField("capacity", "INT64"),
    ]
    rows = [dict(zip(("station_id", "name", "lat", "lon", "capacity"), r, strict=True)) for r in SEED]
    _load(settings, tables.STATIONS, schema, rows)


def performance_rows(end: datetime = TARGET_HOUR, days: int = 8) -> list[dict]:
    """Hourly rows over ``days`` days: 24h and 7d windows of the model and every baseline. The model is
    better than ``mean_last_4_same_weekday_hours`` (the best baseline here), which beats the others."""
    rows = []
    for h in range(days * 24, 0, -1):
        window_end = end - timedelta(hours=h - 1)
        wave = 0.1 * ((h % 24) / 24)
        for window in ("24h", "7d"):
            for i, predictor in enumerate(("model", *BASELINES)):
                base = 0.9 if predictor == "model" else (1.0 if predictor == BASELINES[-1] else 1.2 + 0.05 * i)
                rows.append(
                    {
                        "window_end": window_end.isoformat(),
                        "window_name": window,
                        "predictor": predictor,
                        "station_hours": 53 * (24 if window == "24h" else 168),
                        "mae": round(base + (wave if window == "24h" else 0.0), 4),
                        "rmse": round(base * 1.4, 4),
                        "precision_at_10": 0.4 if predictor == "model" else 0.3,
                    }
                )
    return rows


def load_performance(settings: Settings, rows: list[dict] | None = None) -> None:
    schema = [
        bigquery.SchemaField("window_end", "TIMESTAMP"),
        bigquery.SchemaField("window_name", "STRING"),
        bigquery.SchemaField("predictor", "STRING"),
        bigquery.SchemaField("station_hours", "INT64"),
        bigquery.SchemaField("mae", "FLOAT64"),
        bigquery.SchemaField("rmse", "FLOAT64"),
        bigquery.SchemaField("precision_at_10", "FLOAT64"),
    ]
    _load(settings, MODEL_PERFORMANCE, schema, performance_rows() if rows is None else rows)


def build_world(base: Settings, suffix: str, with_performance: bool = True, with_plan: bool = True) -> World:
    """Everything the view reads, in a dataset and bucket of ``suffix``."""
    s = own_settings(base, suffix)
    write_model(s)
    write_predictions(s)
    load_stations(s)
    if with_performance:
        load_performance(s)
    if with_plan:
        write_plans(s)
    return World(s)
