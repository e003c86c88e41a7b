"""One plan hour ``T``: inventory as of ``T`` + the rates served by run ``T`` → risk → moves → the hour's records.

The I/O is at the edges (:func:`run` reads the status and the forecasts, writes ``station_risk``,
``rebalancing_plan`` and the hour's JSON object); :func:`stations_for_hour` and :func:`compute` are pure, so
a backfilled hour gives the same plan as the live one: the inputs are the stored status (each station's
latest report at or before ``T``) and the stored forecasts of run ``T``, and the solver is deterministic.

A station is **judged** (risk and target interval) when it has a capacity, a status and a forecast; it is
**planned** (may give or take bikes) when it is judged, has coordinates, and rents and returns. The others keep
a row with ``problem`` saying why, so the crew view can warn rather than hide them.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from include.gcp import bucket, paths
from include.gcp.hour_rows import replace_hour
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import REBALANCING_PLAN_SPEC, STATION_RISK_SPEC
from include.hours import Hour
from include.rebalancing.config import RebalancingConfig
from include.rebalancing.plan import Fleet, Plan, plan_moves
from include.rebalancing.risk import RiskConfig, failure_exposure, station_risk

log = logging.getLogger(__name__)
HORIZONS = (1, 2, 3)
RISK_COLUMNS = ("p_empty_1h", "p_empty_3h", "p_full_1h", "p_full_3h")


def _rates_wide(rates: pd.DataFrame) -> pd.DataFrame:
    """One row per station: pickups_1..3, dropoffs_1..3, model_version. A model from before the horizons
    served hour +1 only: its next-hour rates stand for hours +2 and +3 (said in the row's problem)."""
    if rates.empty:
        return pd.DataFrame(columns=["station_id", "model_version", "horizons_served"])
    wide = rates.pivot_table(
        index="station_id", columns="horizon", values=["predicted_pickups", "predicted_dropoffs"], aggfunc="first"
    )
    out = pd.DataFrame(index=wide.index)
    for h in HORIZONS:
        for kind, column in (("pickups", "predicted_pickups"), ("dropoffs", "predicted_dropoffs")):
            have = (column, h) in wide.columns
            out[f"{kind}_{h}"] = wide[(column, h)] if have else np.nan
    out["horizons_served"] = out[[f"pickups_{h}" for h in HORIZONS]].notna().sum(axis=1)
    for h in HORIZONS[1:]:
        for kind in ("pickups", "dropoffs"):
            out[f"{kind}_{h}"] = out[f"{kind}_{h}"].fillna(out[f"{kind}_1"])
    out["model_version"] = rates.groupby("station_id")["model_version"].first()
    return out.reset_index()


def _problem(row: pd.Series, plan_hour: datetime, config: RebalancingConfig) -> str | None:
    """Plain words for a crew: why a station is not judged or planned, or what to doubt about it."""
    if pd.isna(row["bikes"]):
        return "no status reported"
    if pd.isna(row["capacity"]) or row["capacity"] <= 0:
        return "no capacity known"
    if row["bikes"] > row["capacity"] or row["bikes"] < 0:
        return f"status says {int(row['bikes'])} bikes for {int(row['capacity'])} docks"
    if pd.isna(row.get("pickups_1")):
        return "no forecast"
    if pd.isna(row["lat"]) or pd.isna(row["lon"]):
        return "no coordinates"
    if row.get("is_renting") is False or row.get("is_returning") is False:
        return "not renting or not returning"
    reported = row["status_reported_at"]
    if pd.notna(reported) and plan_hour - reported > timedelta(minutes=config.max_status_age_minutes):
        return f"status is {int((plan_hour - reported).total_seconds() // 60)} min old"
    if row.get("horizons_served", 3) < 3:
        return "forecast for the next hour only"
    return None


def stations_for_hour(
    inventory: pd.DataFrame, rates: pd.DataFrame, plan_hour: datetime, config: RebalancingConfig
) -> pd.DataFrame:
    """Every station with a forecast, its status and what the plan needs, and why it may not be judged.

    ``inventory``: station_id, name, lat, lon, capacity, bikes, last_reported, is_renting, is_returning
    (include/gbfs/status.py); ``rates``: station_id, horizon, predicted_pickups, predicted_dropoffs,
    model_version (include/ml/served.py)."""
    inv = inventory.rename(columns={"last_reported": "status_reported_at"}).copy()
    inv["station_id"] = inv["station_id"].astype(str)
    wide = _rates_wide(rates.assign(station_id=rates["station_id"].astype(str)) if len(rates) else rates)
    # the fleet is the stations the model forecasts; a feed may list more (Citi Bike's lists New York's too)
    frame = inv.merge(wide, on="station_id", how="right").sort_values("station_id", kind="stable")
    frame = frame.reset_index(drop=True)
    for column in ("name", "lat", "lon", "capacity", "bikes", "status_reported_at", "is_renting", "is_returning"):
        if column not in frame:
            frame[column] = None
    frame["status_reported_at"] = pd.to_datetime(frame["status_reported_at"], utc=True)
    problems = [_problem(row, plan_hour, config) for _, row in frame.iterrows()]
    unjudged = ("no capacity known", "no status reported", "no forecast")
    judged = [p is None or not (p in unjudged or p.startswith("status says")) for p in problems]
    unplanned = ("no coordinates", "not renting or not returning")
    frame["problem"] = pd.Series(problems, index=frame.index, dtype=object)
    frame["judged"] = judged
    frame["planned"] = [j and p not in unplanned for j, p in zip(judged, problems, strict=True)]
    return frame


def compute(stations: pd.DataFrame, config: RebalancingConfig) -> tuple[pd.DataFrame, Plan]:
    """Risk and target interval of the judged stations, then the moves among the planned ones."""
    out = stations.copy()
    for column in (*RISK_COLUMNS, "target_low", "target_high", "reachable", "bikes_after_plan"):
        out[column] = None
    judged = out.index[out["judged"]]
    exposure = pd.Series(0.0, index=out.index)  # the plan's priority (risk.failure_exposure)
    if len(judged):
        rows = out.loc[judged]
        pickups = rows[[f"pickups_{h}" for h in HORIZONS]].to_numpy(dtype=float)
        dropoffs = rows[[f"dropoffs_{h}" for h in HORIZONS]].to_numpy(dtype=float)
        risk = station_risk(
            rows["bikes"].astype(int).to_numpy(),
            rows["capacity"].astype(int).to_numpy(),
            pickups,
            dropoffs,
            RiskConfig(service_level=config.service_level),
        )
        exposure.loc[judged] = failure_exposure(risk, pickups, dropoffs)
        for column in RISK_COLUMNS:
            out.loc[judged, column] = getattr(risk, column)
        out.loc[judged, "target_low"] = risk.target_low
        out.loc[judged, "target_high"] = risk.target_high
        out.loc[judged, "reachable"] = risk.reachable
    planned = out[out["planned"]]
    fleet = Fleet(trucks=config.trucks, truck_capacity=config.truck_capacity, depot=config.depot)
    plan = plan_moves(
        planned["station_id"].tolist(),
        planned["lat"].to_numpy(dtype=float),
        planned["lon"].to_numpy(dtype=float),
        planned["bikes"].to_numpy(dtype=int),
        planned["capacity"].to_numpy(dtype=int),
        planned["target_low"].to_numpy(dtype=int),
        planned["target_high"].to_numpy(dtype=int),
        fleet,
        time_limit_s=config.plan_time_limit_seconds,
        priority=exposure.loc[planned.index].to_numpy(dtype=float),
    )
    change: dict[str, int] = {}
    for move in plan.moves:
        change[move.from_station] = change.get(move.from_station, 0) - move.bikes
        change[move.to_station] = change.get(move.to_station, 0) + move.bikes
    has_bikes = out["bikes"].notna()
    out.loc[has_bikes, "bikes_after_plan"] = [
        int(b) + change.get(sid, 0)
        for sid, b in zip(out.loc[has_bikes, "station_id"], out.loc[has_bikes, "bikes"], strict=True)
    ]
    return out, plan


def _value(value: Any) -> Any:
    """A JSON/BigQuery value: NaN and pandas' missing markers become None, numpy scalars Python ones."""
    if value is None or (not isinstance(value, str | bool) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if isinstance(value, np.generic) else value


def risk_rows(
    stations: pd.DataFrame, plan_hour: datetime, config: RebalancingConfig, generated_at: datetime
) -> list[dict[str, Any]]:
    """The hour's ``station_risk`` rows (STATION_RISK_SPEC), one per station."""
    rows = []
    for _, s in stations.iterrows():
        pickups = [s.get(f"pickups_{h}") for h in HORIZONS]
        dropoffs = [s.get(f"dropoffs_{h}") for h in HORIZONS]
        row = {
            "plan_hour": plan_hour,
            "station_id": s["station_id"],
            **{c: _value(s.get(c)) for c in ("name", "lat", "lon", "capacity", "bikes", "status_reported_at")},
            "expected_pickups_3h": None if any(pd.isna(p) for p in pickups) else float(sum(pickups)),
            "expected_dropoffs_3h": None if any(pd.isna(d) for d in dropoffs) else float(sum(dropoffs)),
            **{c: _value(s[c]) for c in (*RISK_COLUMNS, "target_low", "target_high", "reachable")},
            "bikes_after_plan": _value(s["bikes_after_plan"]),
            "problem": s["problem"],
            "service_level": config.service_level,
            "model_version": _value(s.get("model_version")),
            "generated_at": generated_at,
        }
        for column in ("capacity", "bikes", "target_low", "target_high", "bikes_after_plan"):
            row[column] = None if row[column] is None else int(row[column])
        for column in (*RISK_COLUMNS, "lat", "lon"):
            row[column] = None if row[column] is None else float(row[column])
        row["reachable"] = None if row["reachable"] is None else bool(row["reachable"])
        rows.append(row)
    return rows


def plan_rows(plan: Plan, plan_hour: datetime, generated_at: datetime) -> list[dict[str, Any]]:
    """The hour's ``rebalancing_plan`` rows (REBALANCING_PLAN_SPEC), ordered by truck then move."""
    moves = sorted(plan.moves, key=lambda m: (m.truck, m.order))
    return [
        {
            "plan_hour": plan_hour,
            "truck": m.truck,
            "move_order": m.order,
            "from_station": m.from_station,
            "to_station": m.to_station,
            "bikes": m.bikes,
            "generated_at": generated_at,
        }
        for m in moves
    ]


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def document(
    plan_hour: datetime, config: RebalancingConfig, plan: Plan, risk: list[dict[str, Any]], moves: list[dict[str, Any]]
) -> bytes:
    """The hour's JSON object: configuration, the solver's summary, the moves and every station's row."""
    # solve_seconds is wall time: left out so that a rerun of the hour writes the same bytes
    summary = {k: _json(v) for k, v in asdict(plan).items() if k not in ("moves", "solve_seconds")}
    body = {
        "plan_hour": plan_hour.isoformat(),
        "config": asdict(config),
        "summary": summary,
        "moves": [{k: _json(v) for k, v in m.items()} for m in moves],
        "stations": [{k: _json(v) for k, v in r.items()} for r in risk],
    }
    return json.dumps(body, indent=1, sort_keys=True, allow_nan=False).encode()


def run(plan_hour: datetime, settings: Settings | None = None, config: RebalancingConfig | None = None) -> dict:
    """Plan the hour after ``plan_hour`` and store it; returns a summary for the task's XCom and log."""
    from include.gbfs import status
    from include.ml import served

    s, cfg = settings or get_settings(), config or RebalancingConfig.from_env()
    hour = Hour.of(plan_hour).start
    inventory = status.inventory_as_of(hour, s)
    rates = served.rates_for_run(hour, s)
    if rates.empty:
        log.warning("no forecasts served for the run of %s: nothing to plan", hour.isoformat())
        return {"plan_hour": hour.isoformat(), "stations": 0, "moves": 0, "path": None}
    stations, plan = compute(stations_for_hour(inventory, rates, hour, cfg), cfg)
    generated_at = datetime.now(UTC)
    risk, moves = risk_rows(stations, hour, cfg, generated_at), plan_rows(plan, hour, generated_at)
    path = bucket.write_bytes(
        paths.rebalancing_plan(s.system_root, hour), document(hour, cfg, plan, risk, moves), "application/json", s
    )
    replace_hour(STATION_RISK_SPEC, "plan_hour", hour, risk, s)
    replace_hour(REBALANCING_PLAN_SPEC, "plan_hour", hour, moves, s)
    warned = [r for r in risk if r["problem"]]
    log.info(
        "%s: %d stations (%d with a warning), %d moves of %d bikes; in their interval %d → %d; %s",
        hour.isoformat(),
        len(risk),
        len(warned),
        len(moves),
        plan.bikes_moved,
        plan.in_interval_before,
        plan.in_interval_after,
        path,
    )
    return {
        "plan_hour": hour.isoformat(),
        "stations": len(risk),
        "warnings": len(warned),
        "moves": len(moves),
        "bikes_moved": plan.bikes_moved,
        "in_interval_before": plan.in_interval_before,
        "in_interval_after": plan.in_interval_after,
        "path": path,
    }
