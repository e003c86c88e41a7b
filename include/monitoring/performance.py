"""Does the served model still beat naive? Live scores from ``model_performance`` and the checks
that alert on them.

``model_performance`` (dbt, models/monitoring) joins the forecasts served for each hour
(``station_predictions``) with what happened (``station_hourly_labels``) and scores the model and the
four naive baselines over rolling 24 h and 7 d windows. The hourly ``bikeshare_monitoring`` run builds
it once the hour's outcome is in and then checks:

- ``model_worse_than_naive``: over the last 7 days (with at least ``min_hours`` scored hours) the
  model's MAE is not below the best baseline's — the gate a new model must pass at training, applied
  to the served one on the outcomes it never saw;
- ``station_error``: a station's MAE over the last 24 h is at least ``station_factor`` times the
  fleet's 7-day MAE and at least ``station_floor`` bikes — one station gone wrong (a broken dock, an
  event nearby, a data fault) that the fleet average hides.

The plan's risks are scored there too (predictors ``RISK_PREDICTORS``, Brier score, no MAE): the checks
read the forecasts' rows only; :func:`latest_scores` with ``risk=True`` gives the risks'.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.api_core import exceptions
from google.cloud import bigquery

from include.gcp import clients
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import MODEL_PERFORMANCE, STATION_PREDICTIONS
from include.ml.dataset import LABELS_TABLE
from include.monitoring.alerts import Alert

log = logging.getLogger(__name__)

MODEL = "model"
# model_performance's rows of the plan's risks (int_risk_vs_outcome): a Brier score, no MAE / RMSE / precision
RISK_PREDICTORS = ("risk_empty_1h", "risk_full_1h", "risk_empty_3h", "risk_full_3h")


@dataclass(frozen=True)
class Limits:
    """When the checks alert; the defaults are those of the alert table in docs/operations.md."""

    min_hours: int = 72  # a 7-day verdict needs at least 3 days of scored hours
    station_factor: float = 3.0
    station_floor: float = 2.0


def build(as_of: datetime, settings: Settings | None = None) -> float:
    """``dbt build`` of the monitoring models and their tests for the run's hour; returns seconds."""
    from include.dbt import cosmos_tasks
    from include.dbt.runner import run_dbt

    result = run_dbt(
        ["build", "--select", cosmos_tasks.MONITORING_SELECTOR], settings, vars={"as_of": as_of.isoformat()}
    )
    return result.seconds


def _query(sql: str, params: list[bigquery.ScalarQueryParameter], settings: Settings) -> list[dict[str, Any]]:
    config = bigquery.QueryJobConfig(query_parameters=params)
    try:
        return [dict(r) for r in clients.bigquery_client(settings).query(sql, job_config=config).result()]
    except exceptions.NotFound:  # not built yet: nothing served or scored so far
        return []


def latest_scores(
    as_of: datetime, settings: Settings | None = None, risk: bool = False
) -> dict[str, dict[str, dict[str, Any]]]:
    """``{window_name: {predictor: row}}`` of the settings' system's newest window end at or before ``as_of``:
    the forecasts' rows (the model and the baselines), or with ``risk`` the risks' (:data:`RISK_PREDICTORS`)."""
    s = settings or get_settings()
    table = s.table_id(MODEL_PERFORMANCE)
    mine = "system_id = @system_id"
    sql = (
        f"SELECT * FROM `{table}` WHERE {mine} AND window_end = "
        f"(SELECT MAX(window_end) FROM `{table}` WHERE {mine} AND window_end <= @as_of)"
    )
    params = [
        bigquery.ScalarQueryParameter("as_of", "TIMESTAMP", as_of),
        bigquery.ScalarQueryParameter("system_id", "STRING", s.system_id),
    ]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in _query(sql, params, s):
        if (row["predictor"] in RISK_PREDICTORS) != risk:
            continue
        out.setdefault(row["window_name"], {})[row["predictor"]] = row
    return out


def station_errors_24h(as_of: datetime, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Each station of the settings' system: its MAE of the served next-hour point forecast (horizon 1) over the
    24 scored hours before ``as_of``."""
    s = settings or get_settings()
    sql = f"""
        SELECT p.station_id, COUNT(*) AS hours, AVG(ABS(p.predicted_net_change - l.net_change)) AS mae
        FROM `{s.table_id(STATION_PREDICTIONS)}` AS p
        INNER JOIN `{s.table_id(LABELS_TABLE)}` AS l
            ON p.system_id = l.system_id AND p.station_id = l.station_id AND p.target_hour = l.hour_start
        WHERE p.target_hour >= @since AND p.target_hour < @as_of AND COALESCE(p.horizon, 1) = 1
            AND p.system_id = @system_id
        GROUP BY p.station_id
    """
    params = [
        bigquery.ScalarQueryParameter("since", "TIMESTAMP", as_of - timedelta(hours=24)),
        bigquery.ScalarQueryParameter("as_of", "TIMESTAMP", as_of),
        bigquery.ScalarQueryParameter("system_id", "STRING", s.system_id),
    ]
    return _query(sql, params, s)


def check(
    scores: dict[str, dict[str, dict[str, Any]]], stations: list[dict[str, Any]], limits: Limits = Limits()
) -> list[Alert]:
    """The alerts the scores call for (pure: the DAG task reads, this decides); risk rows are not forecasts."""
    found: list[Alert] = []
    week = {name: row for name, row in scores.get("7d", {}).items() if name not in RISK_PREDICTORS}
    model = week.get(MODEL)
    baselines = {name: row for name, row in week.items() if name != MODEL}
    if model and baselines and model["scored_hours"] >= limits.min_hours:
        best_name, best = min(baselines.items(), key=lambda kv: kv[1]["mae"])
        if model["mae"] >= best["mae"]:
            found.append(
                Alert(
                    "model_worse_than_naive",
                    f"served model's 7-day MAE {model['mae']:.3f} does not beat {best_name} ({best['mae']:.3f}) "
                    f"over {model['scored_hours']} scored hours ending {_iso(model['window_end'])}",
                    details={"model_mae": model["mae"], "best_baseline": best_name, "best_mae": best["mae"]},
                )
            )
    if model:
        limit = max(limits.station_factor * model["mae"], limits.station_floor)
        bad = sorted((r for r in stations if r["mae"] >= limit), key=lambda r: -r["mae"])
        if bad:
            listed = ", ".join(f"{r['station_id']} ({r['mae']:.2f})" for r in bad[:10])
            found.append(
                Alert(
                    "station_error",
                    f"{len(bad)} station(s) with a 24-h MAE >= {limit:.2f} (3 x the fleet's 7-day "
                    f"{model['mae']:.3f}, at least {limits.station_floor}): {listed}",
                    details={"limit": limit, "stations": {r["station_id"]: r["mae"] for r in bad}},
                )
            )
    return found


def _iso(value: datetime | str) -> str:
    return value.astimezone(UTC).isoformat() if isinstance(value, datetime) else str(value)
