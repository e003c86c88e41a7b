"""Rows of the plan and the GBFS feed for monitoring tests: ``station_risk``, ``rebalancing_plan`` and
``station_status`` written through the real BigQuery client, as the hourly plan and the poller leave them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from include.gcp import hour_rows, tables
from include.gcp.settings import Settings

SERVICE_LEVEL = 0.10
CAPACITY = 10


def risk_row(
    hour: datetime,
    station_id: str,
    p_empty_1h: float | None,
    p_full_1h: float | None,
    p_empty_3h: float | None = None,
    p_full_3h: float | None = None,
    capacity: int | None = CAPACITY,
    bikes: int | None = 5,
    problem: str | None = None,
) -> dict:
    """A ``station_risk`` row (the columns the monitoring reads, the rest plausible)."""
    judged = p_empty_1h is not None
    return {
        "plan_hour": hour,
        "station_id": station_id,
        "name": f"Station {station_id}",
        "lat": 40.72,
        "lon": -74.04,
        "capacity": capacity,
        "bikes": bikes,
        "status_reported_at": hour - timedelta(minutes=2),
        "expected_pickups_3h": 3.0 if judged else None,
        "expected_dropoffs_3h": 3.0 if judged else None,
        "p_empty_1h": p_empty_1h,
        "p_empty_3h": p_empty_3h,
        "p_full_1h": p_full_1h,
        "p_full_3h": p_full_3h,
        "target_low": 2 if judged else None,
        "target_high": 8 if judged else None,
        "reachable": True if judged else None,
        "bikes_after_plan": bikes,
        "problem": problem,
        "service_level": SERVICE_LEVEL,
        "model_version": "v1" if judged else None,
        "generated_at": hour + timedelta(minutes=4),
    }


def move_row(hour: datetime, order: int, from_station: str, to_station: str, bikes: int = 5) -> dict:
    return {
        "plan_hour": hour,
        "truck": 1,
        "move_order": order,
        "from_station": from_station,
        "to_station": to_station,
        "bikes": bikes,
        "generated_at": hour + timedelta(minutes=4),
    }


def status_row(station_id: str, at: datetime, bikes: int, docks: int | None = None) -> dict:
    """A report: ``docks`` defaults to the free docks of a CAPACITY station."""
    return {
        "station_id": station_id,
        "last_reported": at,
        "num_bikes_available": bikes,
        "num_docks_available": CAPACITY - bikes if docks is None else docks,
        "is_installed": True,
        "is_renting": True,
        "is_returning": True,
        "fetched_at": at + timedelta(seconds=30),
    }


def write_plan(settings: Settings, hour: datetime, risk: list[dict], moves: list[dict]) -> None:
    """One plan hour, as the hourly plan writes it (the hour's rows replaced)."""
    hour_rows.replace_hour(tables.STATION_RISK_SPEC, "plan_hour", hour, risk, settings)
    hour_rows.replace_hour(tables.REBALANCING_PLAN_SPEC, "plan_hour", hour, moves, settings)


def write_status(settings: Settings, rows: Iterable[dict], prefix: str) -> None:
    """Make ``rows`` the status reports of the stations whose id starts with ``prefix`` (a test's own)."""
    rows = list(rows)
    assert all(r["station_id"].startswith(prefix) for r in rows)
    where = f"STARTS_WITH(station_id, '{prefix}') AND @hour IS NOT NULL"
    hour_rows.replace_rows(tables.STATION_STATUS_SPEC, where, min(r["last_reported"] for r in rows), rows, settings)
