"""Read the crew view's data through the project's own clients: the bucket and BigQuery, either profile.

- the plan: the served plan hours (``station_risk``'s distinct ``plan_hour``), and for one of them every
  station's risk (``station_risk``) and the trucks' moves (``rebalancing_plan``); BigQuery rather than the
  hour's JSON object on the bucket, because the hour picker needs the list of hours anyway;
- the serving model: ``latest.json`` and its ``metadata.json`` (:mod:`include.ml.registry`);
- the forecast (for engineers): the plan hour's Avro file by the plan's model (the first hour of the rates
  the plan used), else the newest Avro file of the serving model under ``{env}/{system_id}/predictions/{version}/``
  (:mod:`include.ml.predictions`);
- the stations seed (``stations``): names, coordinates and capacity;
- live performance: ``model_performance`` (a dbt mart, maybe not built yet: then the page says so).

Each section is read on its own in :func:`assemble` (side by side, in threads), and a failure becomes a
line in ``CrewView.problems`` rather than an error page: a crew still wants the plan when, say, the
performance mart is being rebuilt.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from google.api_core import exceptions
from google.cloud import bigquery

from include.crew_view.clock import when
from include.crew_view.data import (
    MODEL,
    CrewView,
    Forecast,
    MetricRow,
    Move,
    Performance,
    PerformanceRow,
    Plan,
    ServingModel,
    Station,
    StationForecast,
    StationState,
    finite,
)
from include.gcp import bucket, clients, paths, tables
from include.gcp.settings import Settings
from include.ml import predictions, registry
from include.rebalancing.config import RebalancingConfig
from include.systems import all_systems

log = logging.getLogger(__name__)
T = TypeVar("T")

MODEL_PERFORMANCE = tables.MODEL_PERFORMANCE
PERFORMANCE_DAYS = 7
NO_PERFORMANCE = "no live performance yet"
STATION_RISK = tables.STATION_RISK
REBALANCING_PLAN = tables.REBALANCING_PLAN
SERVED_HOURS = 14 * 24  # the hour picker offers the newest two weeks (an older hour still opens by its link)
_VERSION = re.compile(r"^\d{8}T\d{4}Z$")  # registry.VERSION_FORMAT; also guards the PNG route's parameter
_HOUR_FILE = re.compile(r"/(\d{4}-\d{2}-\d{2})/(\d{2})\.avro$")


def is_version(value: str) -> bool:
    """True for a registry version name (``20190930T0400Z``), the only form the PNG route accepts."""
    return bool(_VERSION.match(value))


def _aware(value: datetime | None) -> datetime | None:
    """TIMESTAMPs are UTC; the emulator may return them without a zone."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _baseline_names() -> tuple[str, ...]:
    from include.ml.baselines import BASELINES  # numpy and pandas: imported on the first page only

    return BASELINES


def serving_model(settings: Settings) -> ServingModel | None:
    """The version ``latest.json`` points at, with its validation metrics; None before the first promotion."""
    pointer = registry.latest(settings)
    if not pointer:
        return None
    version = str(pointer["model_version"])
    meta = registry.read_metadata(version, settings) or {}
    metrics: dict[str, Any] = meta.get("metrics") or {}
    rows = [
        MetricRow(name, finite(m.get("mae")), finite(m.get("rmse")), finite(m.get("precision_at_10")))
        for name in (MODEL, *_baseline_names())
        if isinstance(m := metrics.get(name), dict)
    ]
    return ServingModel(
        version=version,
        trained_at=meta.get("trained_at"),
        cutoff_hour=meta.get("cutoff_hour"),
        promoted=bool(meta.get("promoted")),
        gate=meta.get("gate"),
        metrics=tuple(rows),
        has_plot=bucket.exists(paths.model_plot(settings.system_root, version), settings),
    )


def _predictions_prefix(settings: Settings, version: str | None) -> str:
    """``{env}/{system_id}/predictions/{version}/`` (or ``.../predictions/``), cut from the path include.gcp.paths
    spells out, so that module stays the only one that knows the layout."""
    sample = paths.predictions(settings.system_root, version or "v", datetime(2000, 1, 1, tzinfo=UTC))
    return sample.rsplit("/", 2 if version else 3)[0] + "/"


def _hour_of(path: str) -> datetime | None:
    match = _HOUR_FILE.search(path)
    if not match:
        return None
    return datetime.strptime(f"{match[1]} {match[2]}", "%Y-%m-%d %H").replace(tzinfo=UTC)


def newest_predictions(settings: Settings, version: str | None) -> tuple[str, datetime] | None:
    """The newest predicted hour's object: under the serving version if it wrote any, else under any version.

    Live runs write with the serving version (the newest promoted), so its folder holds the next hour and
    the listing stays as small as the hours it served. The fallback (``latest.json`` moved but its first
    predictions are not written yet) lists every version: slower, and only until that file appears; of
    two versions with the same newest hour it takes the newer version.
    """
    for prefix in ([_predictions_prefix(settings, version)] if version else []) + [_predictions_prefix(settings, None)]:
        found = [(hour, path) for path in bucket.list_paths(prefix, settings) if (hour := _hour_of(path)) is not None]
        if found:
            hour, path = max(found)
            return path, hour
    return None


def stations(settings: Settings) -> dict[str, Station]:
    """The stations seed by id (about 1,600 rows for the whole Citi Bike system: read whole, filtered here)."""
    sql = (
        "SELECT CAST(station_id AS STRING) AS station_id, name, lat, lon, capacity "
        f"FROM `{settings.table_id(tables.STATIONS)}`"
    )
    out: dict[str, Station] = {}
    for row in clients.bigquery_client(settings).query(sql).result():
        capacity = row["capacity"]
        out[str(row["station_id"])] = Station(
            station_id=str(row["station_id"]),
            name=row["name"],
            lat=finite(row["lat"]),
            lon=finite(row["lon"]),
            capacity=int(capacity) if capacity is not None else None,
        )
    return out


def forecast(
    settings: Settings, version: str | None, seed: dict[str, Station], hour: datetime | None = None
) -> Forecast | None:
    """The forecast of ``hour`` by ``version`` if that file exists (the plan's first hour, by the plan's
    model), else the newest predicted hour (see :func:`newest_predictions`); joined with the seed, ranked."""
    found = None
    if hour is not None and version and is_version(version):
        path = paths.predictions(settings.system_root, version, hour)
        if bucket.exists(path, settings):
            found = path, hour
    found = found or newest_predictions(settings, version)
    if found is None:
        return None
    path, hour = found
    # a run's file may hold horizons 1..3 (issue 22): the ranking is of the next hour, horizon 1
    records = [r for r in predictions.from_avro(bucket.read_bytes(path, settings)) if r.get("horizon", 1) == 1]
    rows = [
        StationForecast(
            station_id=str(r["station_id"]),
            predicted_net_change=float(r["predicted_net_change"]),
            predicted_pickups=float(r["predicted_pickups"]),
            predicted_dropoffs=float(r["predicted_dropoffs"]),
            predicted_net_change_mean=finite(r.get("predicted_net_change_mean")),
            station=seed.get(str(r["station_id"])),
        )
        for r in records
    ]
    model_version = str(records[0]["model_version"]) if records else (version or "?")
    generated = max((_aware(r.get("generated_at")) for r in records if r.get("generated_at")), default=None)
    target = _aware(records[0]["target_hour"]) if records else hour
    return Forecast.ranked(model_version, target or hour, generated, path, rows)


def performance_sql(table_id: str, days: int = PERFORMANCE_DAYS) -> str:
    """The last ``days`` days of the forecasts' scores, counted back from the newest ``window_end`` rather than from
    now: the local demo replays 2019, and a mart that stopped updating still shows its last week (with its dates).
    The plan's risks' rows (``risk_*``: a Brier score, no MAE) are left out."""
    return f"""
        SELECT window_end, window_name, predictor, station_hours, mae, rmse, precision_at_10
        FROM `{table_id}`
        WHERE window_end > TIMESTAMP_SUB((SELECT MAX(window_end) FROM `{table_id}`), INTERVAL {int(days) * 24} HOUR)
            AND predictor NOT LIKE 'risk_%'
        ORDER BY window_end, window_name, predictor
    """


def performance(settings: Settings) -> Performance:
    """Live performance, or a note saying there is none yet (table missing or empty)."""
    client = clients.bigquery_client(settings)
    try:
        result = client.query(performance_sql(settings.table_id(MODEL_PERFORMANCE))).result()
        rows = [
            PerformanceRow(
                window_end=_aware(r["window_end"]),
                window_name=str(r["window_name"]),
                predictor=str(r["predictor"]),
                station_hours=int(r["station_hours"]) if r["station_hours"] is not None else None,
                mae=finite(r["mae"]),
                rmse=finite(r["rmse"]),
                precision_at_10=finite(r["precision_at_10"]),
            )
            for r in result
        ]
    except exceptions.NotFound:
        return Performance(note=f"{NO_PERFORMANCE} (table {MODEL_PERFORMANCE} not built)")
    if not rows:
        return Performance(note=f"{NO_PERFORMANCE} ({MODEL_PERFORMANCE} is empty)")
    return Performance(rows=tuple(rows))


def _hour_job(hour: datetime | None, system_id: str) -> bigquery.QueryJobConfig:
    """``@system_id`` (every read is of one system's rows) and ``@hour`` when given."""
    params = [bigquery.ScalarQueryParameter("system_id", "STRING", system_id)]
    if hour is not None:
        params.append(bigquery.ScalarQueryParameter("hour", "TIMESTAMP", hour.astimezone(UTC)))
    return bigquery.QueryJobConfig(query_parameters=params)


def served_hours(settings: Settings, limit: int = SERVED_HOURS) -> tuple[datetime, ...]:
    """The plan hours ``station_risk`` holds, newest first (at most ``limit``); none before the first run."""
    sql = (
        f"SELECT DISTINCT plan_hour FROM `{settings.table_id(STATION_RISK)}` WHERE system_id = @system_id "
        f"ORDER BY plan_hour DESC LIMIT {int(limit)}"
    )
    try:
        rows = clients.bigquery_client(settings).query(sql, job_config=_hour_job(None, settings.system_id)).result()
        return tuple(h for r in rows if (h := _aware(r["plan_hour"])) is not None)
    except exceptions.NotFound:
        return ()


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def plan(settings: Settings, hour: datetime) -> Plan | None:
    """The plan of ``hour``: every station's row of ``station_risk`` and the moves of ``rebalancing_plan``
    (no table yet: no moves); None when ``station_risk`` has no row of the hour."""
    client = clients.bigquery_client(settings)
    risk_sql = f"""
        SELECT station_id, name, lat, lon, capacity, bikes, status_reported_at, expected_pickups_3h,
               expected_dropoffs_3h, p_empty_1h, p_empty_3h, p_full_1h, p_full_3h, target_low, target_high,
               reachable, bikes_after_plan, problem, service_level, model_version, generated_at
        FROM `{settings.table_id(STATION_RISK)}` WHERE plan_hour = @hour AND system_id = @system_id
    """
    try:
        rows = list(client.query(risk_sql, job_config=_hour_job(hour, settings.system_id)).result())
    except exceptions.NotFound:
        return None
    if not rows:
        return None
    stations = [
        StationState(
            station_id=str(r["station_id"]),
            name=r["name"],
            lat=finite(r["lat"]),
            lon=finite(r["lon"]),
            capacity=_int(r["capacity"]),
            bikes=_int(r["bikes"]),
            status_reported_at=_aware(r["status_reported_at"]),
            expected_pickups_3h=finite(r["expected_pickups_3h"]),
            expected_dropoffs_3h=finite(r["expected_dropoffs_3h"]),
            p_empty_1h=finite(r["p_empty_1h"]),
            p_empty_3h=finite(r["p_empty_3h"]),
            p_full_1h=finite(r["p_full_1h"]),
            p_full_3h=finite(r["p_full_3h"]),
            target_low=_int(r["target_low"]),
            target_high=_int(r["target_high"]),
            reachable=r["reachable"],
            bikes_after_plan=_int(r["bikes_after_plan"]),
            problem=r["problem"] or None,
        )
        for r in rows
    ]
    moves_sql = f"""
        SELECT truck, move_order, from_station, to_station, bikes, generated_at
        FROM `{settings.table_id(REBALANCING_PLAN)}` WHERE plan_hour = @hour AND system_id = @system_id
        ORDER BY truck, move_order
    """
    try:
        move_rows = list(client.query(moves_sql, job_config=_hour_job(hour, settings.system_id)).result())
    except exceptions.NotFound:
        move_rows = []
    moves = [
        Move(int(r["truck"]), int(r["move_order"]), str(r["from_station"]), str(r["to_station"]), int(r["bikes"]))
        for r in move_rows
    ]
    generated = [_aware(r["generated_at"]) for r in [*rows, *move_rows] if r["generated_at"] is not None]
    versions = sorted({str(r["model_version"]) for r in rows if r["model_version"]})
    levels = sorted({float(r["service_level"]) for r in rows if finite(r["service_level"]) is not None})
    return Plan.of(
        hour,
        sorted(stations, key=lambda s: s.station_id),
        moves,
        generated_at=max(generated, default=None),  # type: ignore[type-var]
        model_version=", ".join(versions) or None,
        service_level=levels[-1] if levels else None,
        stale_after=timedelta(minutes=RebalancingConfig.from_env().max_status_age_minutes),  # the plan's limit
    )


def evaluation_png(version: str, settings: Settings) -> bytes | None:
    """The evaluation picture the training run stored beside the model, or None."""
    if not is_version(version):
        return None
    try:
        return bucket.read_bytes(paths.model_plot(settings.system_root, version), settings)
    except exceptions.NotFound:
        return None


def _problem(section: str, err: Exception) -> str:
    log.warning("crew view: %s could not be read", section, exc_info=err)
    text = str(err).splitlines()[0] if str(err) else ""
    return f"{type(err).__name__}: {text[:300]}"


def plan_and_hours(
    settings: Settings, hour: datetime | None = None
) -> tuple[Plan | None, tuple[datetime, ...], tuple[str, ...]]:
    """The plan of ``hour`` (default and fallback: the newest served), the served hours for the picker, and a
    note when the hour asked for has no plan."""
    hours = served_hours(settings)
    the_plan = None
    notes: tuple[str, ...] = ()
    if hour is not None:
        the_plan = plan(settings, hour)
        if the_plan is None:
            notes = (f"No plan for {when(hour, settings.system_id)}: showing the newest plan instead.",)
        elif hour not in hours:  # older than the picker's two weeks, opened by its link
            hours = tuple(sorted({*hours, hour}, reverse=True))
    if the_plan is None and hours:
        the_plan = plan(settings, hours[0])
    return the_plan, hours, notes


def _guarded(problems: dict[str, str], key: str, what: str, future: Future[T], fallback: T) -> T:
    try:
        return future.result()
    except Exception as err:
        problems[key] = _problem(what, err)
        return fallback


def assemble(settings: Settings, hour: datetime | None = None) -> CrewView:
    """Read every section for plan ``hour`` (default: the newest served); one that fails is reported in
    ``problems`` and the others are still shown. The independent reads run side by side (each is a round
    trip to BigQuery or the bucket); the forecast waits for the plan and the serving model, whose version it
    reads."""
    problems: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="crew-view") as pool:
        plan_f = pool.submit(plan_and_hours, settings, hour)
        serving_f = pool.submit(serving_model, settings)
        seed_f = pool.submit(stations, settings)
        perf_f = pool.submit(performance, settings)
        the_plan, hours, notes = _guarded(problems, "plan", "the plan", plan_f, (None, (), ()))
        serving = _guarded(problems, "model", "the serving model", serving_f, None)
        seed = _guarded(problems, "stations", "the stations seed", seed_f, {})
        plan_version = the_plan.model_version if the_plan and is_version(the_plan.model_version or "") else None
        version = plan_version or (serving.version if serving else None)
        forecast_f = pool.submit(forecast, settings, version, seed, the_plan.hour if the_plan else None)
        fc = _guarded(problems, "forecast", "the predictions", forecast_f, None)
        perf = _guarded(problems, "performance", "live performance", perf_f, Performance(note=NO_PERFORMANCE))
    return CrewView(
        serving=serving,
        forecast=fc,
        performance=perf,
        env=settings.env,
        profile=settings.profile,
        rendered_at=datetime.now(UTC),
        problems=dict(sorted(problems.items())),
        plan=the_plan,
        hours=hours,
        notes=notes,
        system_id=settings.system_id,
        systems=tuple((s.system_id, s.name) for s in all_systems().values()),
    )
