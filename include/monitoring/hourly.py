"""The hourly monitoring run, step by step (``bikeshare_monitoring``): are the hour's forecasts there,
does the served model still beat naive on the outcomes, has the input drifted, did the plan miss a stockout?

A run works for the hour ``T`` its logical date falls in (scheduled at T:15; the DAG floors it with
``include/hours.py``, so a manual run at any minute works; here ``T`` must be on the hour). Each step
returns a small JSON-able summary (an XCom) when it finds nothing to alert on; when it does, it sends its
alerts and fails its task (``alerts.raise_alerts``: :class:`~include.monitoring.alerts.AlertRaised`, the
summary in its ``result``), so a task that alerted is never green in the UI and is not retried.
Idempotent per hour: the scores are a dbt merge, the drift rows of the hour are replaced, the stockout
check only reads. A rerun alerts again on what it finds (every step does).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from include.gcp.settings import Settings, get_settings
from include.hours import Hour
from include.monitoring import alerts, performance, stockouts

log = logging.getLogger(__name__)
WEEK = timedelta(days=7)


def predictions_fresh(hour: datetime, context: Any = None, settings: Settings | None = None) -> dict[str, Any]:
    """Hour T's next-hour forecasts (run T's horizon 1) must be in ``station_predictions`` by T + 15 min; alert
    ``predictions_late`` if not (and fail). Run T-1h's horizon 2 of the same hour does not count: it is not T's run."""
    from include.ml import served

    s, hour = settings or get_settings(), Hour.of(hour).start
    rows = served.rows_for_hour(hour, s)
    result = {"hour": hour.isoformat(), "rows": rows, "fresh": bool(rows)}
    if not rows:
        late = alerts.Alert(
            "predictions_late",
            f"no forecasts for the hour {hour.isoformat()} in station_predictions "
            "(bikeshare_train_predict has not written them)",
            details={"hour": hour.isoformat()},
        )
        alerts.raise_alerts([late], context, s, result)
    return result


def outcomes_ready(hour: datetime, settings: Settings | None = None) -> bool:
    """The hour before ``hour`` is labelled by a verified feature-store run (the training sensor's rule)."""
    from include.ml import dataset

    return dataset.features_ready(hour, settings)


def build_scores(hour: datetime, settings: Settings | None = None) -> dict[str, Any]:
    """Build model_performance up to ``hour`` for every system: one dbt build (models and their tests)."""
    s, hour = settings or get_settings(), Hour.of(hour).start
    return {"hour": hour.isoformat(), "dbt_seconds": round(performance.build(hour, s), 1)}


def check_scores(
    hour: datetime,
    context: Any = None,
    settings: Settings | None = None,
    limits: performance.Limits | None = None,
) -> dict[str, Any]:
    """Alert on what model_performance says of the settings' system up to ``hour`` (built by :func:`build_scores`)."""
    s, hour = settings or get_settings(), Hour.of(hour).start
    scores = performance.latest_scores(hour, s)
    found = performance.check(scores, performance.station_errors_24h(hour, s), limits or performance.Limits())
    week = scores.get("7d", {})
    summary = {
        name: {k: row[k] for k in ("mae", "rmse", "precision_at_10", "scored_hours")} for name, row in week.items()
    }
    brier = {name: row["brier"] for name, row in performance.latest_scores(hour, s, risk=True).get("24h", {}).items()}
    log.info(
        "%s: 7-day live scores up to %s: %s; the risks' 24-h Brier scores: %s",
        s.system_id,
        hour.isoformat(),
        summary,
        brier,
    )
    result = {
        "hour": hour.isoformat(),
        "system_id": s.system_id,
        "7d": summary,
        "24h_brier": brier,
        "alerts": [a.kind for a in found],
    }
    alerts.raise_alerts(found, context, s, result)
    return result


def feature_drift(hour: datetime, context: Any = None, settings: Settings | None = None) -> dict[str, Any]:
    """PSI of each feature over the week before ``hour`` against the serving model's training profile;
    recorded in ``feature_drift``, alert ``feature_drift`` for a feature above its calibrated bar (the model's
    ``feature_alert_psi``; a model trained before the bars is not judged on PSI) or stuck all week."""
    from include.gcp.hour_rows import replace_hour
    from include.gcp.tables import FEATURE_DRIFT_SPEC
    from include.ml import dataset, drift, registry

    s, hour = settings or get_settings(), Hour.of(hour).start
    version = registry.serving_version(registry.version_for(hour), s)
    metadata = (registry.read_metadata(version, s) or {}) if version else {}
    profile, bars = metadata.get("feature_profile"), metadata.get("feature_alert_psi")
    if not profile:
        reason = "no promoted model yet" if not version else f"model {version} has no feature profile (older model)"
        log.warning("feature drift not measured for %s: %s", hour.isoformat(), reason)
        return {"hour": hour.isoformat(), "skipped": reason}
    frame = dataset.hourly_features(hour - WEEK, hour, s)
    scores = drift.report(profile, frame)
    rows = [
        {"checked_hour": hour, "model_version": version, "feature": name, "psi": value, "rows": len(frame)}
        for name, value in scores.items()
    ]
    replace_hour(FEATURE_DRIFT_SPEC, "checked_hour", hour, rows, s)
    shifted = drift.shifted(scores, bars)
    if bars is None:
        log.warning("model %s has no calibrated drift bars (trained before them): PSI recorded, not judged", version)
    stuck = drift.stuck(profile, frame)
    found = []
    if stuck:
        found.append(
            alerts.Alert(
                "feature_drift",
                f"{len(stuck)} feature(s) stuck at one value (or missing) all week before {hour.isoformat()}, "
                f"though they varied in model {version}'s training rows: {', '.join(stuck[:10])}",
                details={"model_version": version, "stuck": stuck},
            )
        )
    if shifted:
        bar = bars or {}
        listed = ", ".join(
            f"{name} {value:.2f} (bar {bar.get(name, drift.ALERT_PSI):.2f})"
            for name, value in list(shifted.items())[:10]
        )
        found.append(
            alerts.Alert(
                "feature_drift",
                f"{len(shifted)} feature(s) with a PSI above their bar over the week before {hour.isoformat()} "
                f"against model {version}'s training rows: {listed}",
                details={
                    "model_version": version,
                    "psi": shifted,
                    "bars": {n: bar.get(n, drift.ALERT_PSI) for n in shifted},
                },
            )
        )
    top = dict(list(scores.items())[:5])
    result = {
        "hour": hour.isoformat(),
        "model_version": version,
        "rows": len(frame),
        "top_psi": top,
        "shifted": list(shifted),
        "stuck": stuck,
    }
    alerts.raise_alerts(found, context, s, result)  # the drift rows are written either way
    return result


def unflagged_stockouts(
    hour: datetime,
    context: Any = None,
    settings: Settings | None = None,
    limits: stockouts.StockoutLimits | None = None,
) -> dict[str, Any]:
    """The plan hour before ``hour`` (it has passed by the run at ``hour``:15): stations empty or full for more
    than ``limits.min_minutes`` that the plan had not flagged alert ``unflagged_stockout``. Reads only, so a
    rerun alerts again, like the other checks; an hour the status feed does not cover yet is skipped."""
    s, hour = settings or get_settings(), Hour.of(hour).start
    lim = limits or stockouts.StockoutLimits.from_env()
    result = stockouts.check_hour(hour - timedelta(hours=1), s, lim)
    if result.skipped:
        log.warning("stockouts of plan hour %s not checked: %s", result.plan_hour.isoformat(), result.skipped)
    found = stockouts.alert(result, lim)
    summary = {
        "plan_hour": result.plan_hour.isoformat(),
        "stations": result.stations,
        "skipped": result.skipped,
        "spells": [f"{sp.station_id} {sp.kind} {sp.minutes:.0f} min" for sp in result.spells],
        "unflagged": [sp.station_id for sp in result.unflagged],
        "alerts": [found.kind] if found else [],
    }
    alerts.raise_alerts([found] if found else [], context, s, summary)
    return summary
