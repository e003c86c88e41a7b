"""One hourly run, step by step: train and evaluate → publish (gated) → predict → write Avro.

A run is identified by its cut-off hour ``T``: the DAG run's data-interval end (with Airflow 3's default
cron timetable that is the logical date), floored to its hour by the DAG (``include/hours.py``: a
manual run at 09:17 is the 09:00 run); here it must be on the hour. The model trains on
label hours ``[T - window, T)`` (all complete at ``T``), is validated on the last ``validation_days`` of
them (a split in time), and the serving model predicts, from features as of ``T``, the hours ``[T, T + 1h)``
(horizon 1, the next hour), ``[T + 1h, T + 2h)`` and ``[T + 2h, T + 3h)`` (include/ml/model.py; a model
from before the horizons predicts horizon 1 only). The model version is named after ``T``. Every step is
idempotent per logical hour: a committed version is reused, never retrained or rewritten. What was served
stays as served (include/ml/served.py): the first run of an hour to write its predictions is the hour's record
(one file, all horizons; its rows in ``station_predictions``); a rerun or backfill of that hour predicts with
the model version that served it and writes to ``predictions_backfill/`` and ``station_predictions_backfill``.
Step results are typed (:class:`Evaluation`, :class:`Publication`); the DAG turns them into XCom dicts
and back with ``to_xcom`` / ``from_xcom``, which refuse a missing or unknown key.
"""

from __future__ import annotations

import hashlib
import logging
import platform
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from include.gcp.settings import Settings, get_settings
from include.hours import Hour
from include.ml import baselines, dataset, drift, evaluate, memory, plot, registry, served
from include.ml.cadence import TrainCadence
from include.ml.model import (
    DEFAULT_PARAMS,
    HISTORY_REACH,
    HORIZONS,
    SCORED_COLUMNS,
    MeanForecast,
    NetForecast,
    StationFlowModel,
    counts_by_hour,
    horizon_labels,
)
from include.systems import time_zone

log = logging.getLogger(__name__)
PACKAGES = ("scikit-learn", "numpy", "pandas", "scipy", "fastavro", "google-cloud-bigquery", "google-cloud-storage")


@dataclass(frozen=True)
class TrainConfig:
    """How a run trains and validates; defaults are the measured choice (research/model_research.py)."""

    # 26 weeks: longer windows help (research: MAE -7.4 % / -7.7 % / -9.8 % vs the best naive for 8 / 16 / 26
    # weeks). With the window read through the Storage Read API, the hourly run on the dbt-built feature table
    # (benchmarks/train_predict.py --dataset, 53 stations, idle machine) takes 10-28 s at 26 weeks, inside the
    # 60 s budget; over REST paging 12 weeks alone took 50 s.
    window_weeks: int = 26
    validation_days: int = 7
    net_forecast: NetForecast = "skellam_median"  # best MAE in every research split (the gate's metric)
    # the RMSE column, predicted_net_change_mean: squared error on net beat the Poisson mean difference on
    # RMSE in the research splits (16 weeks: -6.3 % vs +0.9 % vs the best naive on average), a third fit
    mean_forecast: MeanForecast = "direct"
    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    # hours forecast per run (issue 22 §2): the rebalancing plan reads the rates of hours +1..+3
    horizons: int = HORIZONS


@dataclass(frozen=True)
class Run:
    """The hours one run works on; ``cutoff`` is the first hour not complete at run time: the end of
    training and the hour to predict (on the hour: the DAG floors a manual run's time)."""

    cutoff: datetime
    config: TrainConfig

    def __post_init__(self) -> None:
        object.__setattr__(self, "cutoff", Hour.of(self.cutoff).start)

    @property
    def version(self) -> str:
        return registry.version_for(self.cutoff)

    @property
    def window(self) -> dataset.Window:
        return dataset.Window.before(self.cutoff, self.config.window_weeks)

    @property
    def validation_start(self) -> datetime:
        return self.cutoff - timedelta(days=self.config.validation_days)


class _XCom:
    """Typed step results across Airflow's XCom: a plain dict out, the same fields strictly back in."""

    def to_xcom(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_xcom(cls, data: dict[str, Any]):
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if set(data) != names:
            raise ValueError(f"{cls.__name__}: expected keys {sorted(names)}, got {sorted(data)}")
        return cls(**data)


@dataclass(frozen=True)
class Evaluation(_XCom):
    """What train_and_evaluate found: the candidate's scores and gate decision (or the committed
    version's, when the hour's model exists already and is reused)."""

    version: str
    reused: bool
    promoted: bool
    gate: str
    metrics: dict[str, Any]
    rows: dict[str, int] = field(default_factory=dict)
    features: list[str] = field(default_factory=list)
    point_forecasts: dict[str, Any] = field(default_factory=dict)
    trained_at: str | None = None
    model_sha256: str | None = None
    feature_profile: dict[str, Any] = field(default_factory=dict)
    feature_alert_psi: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Publication(_XCom):
    """The run's version, whether it was promoted (False until committed), and the model that serves the hour
    (verified: :func:`registry.serving`; :func:`publish` names the newest up to the hour, :func:`serving_for`
    applies the cadence's rule). ``unverifiable``: the versions skipped on the way (what failed, the
    object, what to do), for the DAG's ``model_unverifiable`` alert (include/ml does not import monitoring)."""

    version: str
    promoted: bool
    serving_version: str | None
    unverifiable: list[dict[str, str]] = field(default_factory=list)


def _split(frame: pd.DataFrame, run: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    valid = frame["hour_start"] >= run.validation_start
    return frame[~valid].reset_index(drop=True), frame[valid].reset_index(drop=True)


def _code_version() -> str:
    """Hash of this package's source: which code trained a model, without needing git at run time."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).resolve().parent.rglob("*")):
        if path.suffix in (".py", ".avsc"):
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def _metrics(valid: pd.DataFrame, predicted: pd.DataFrame, naive: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Each forecast's MAE / RMSE / precision@10; the model's MAE is scored on its ``net_change`` column and
    its RMSE on ``net_change_mean`` (model.SCORED_COLUMNS), each column scored on what it is optimal for."""
    actual = valid["net_change"].to_numpy()
    hours = valid["hour_start"]
    point = evaluate.mae_rmse(actual, predicted["net_change"].to_numpy())
    mean = evaluate.mae_rmse(actual, predicted["net_change_mean"].to_numpy())
    out = {"model": {"mae": point["mae"], "rmse": mean["rmse"]}}
    out["model"]["precision_at_10"] = evaluate.precision_at_k(hours, actual, np.abs(predicted["net_change"].to_numpy()))
    volume = (predicted["pickups"] + predicted["dropoffs"]).to_numpy()
    out["model"]["precision_at_10_by_volume"] = evaluate.precision_at_k(hours, actual, volume)
    for name, pred in naive.items():
        out[name] = evaluate.mae_rmse(actual, pred)
        out[name]["precision_at_10"] = evaluate.precision_at_k(hours, actual, np.abs(pred))
    out["model_net_change_column"] = point  # both metrics of each output column, for reference
    out["model_net_change_mean_column"] = mean
    out["perfect_foresight"] = {"precision_at_10": evaluate.precision_at_k(hours, actual, np.abs(actual))}
    return out


def _horizon_metrics(
    labels: pd.DataFrame, train: pd.DataFrame, valid: pd.DataFrame, by_horizon: pd.DataFrame, time_zone: str
) -> dict[str, float]:
    """MAE of each horizon's pickups and dropoffs on the validation hours ``T`` whose target hour ``T + k - 1``
    is labelled, beside the mean of the last 4 same-weekday hours of that target hour (a naive rate), flat:
    ``h2_pickups_mae``, ``h2_pickups_naive_4w_mae``, ... (informative; the gate scores horizon 1's net change)."""
    counts = counts_by_hour(labels)
    out: dict[str, float] = {}
    for horizon, block in by_horizon.groupby("horizon"):
        k = int(horizon)
        actual = horizon_labels(valid, k, counts)
        known = actual["pickups"].notna().to_numpy()
        if not known.any():
            continue
        keys = valid.loc[known, ["station_id"]].assign(
            hour_start=valid.loc[known, "hour_start"] + timedelta(hours=k - 1)
        )
        for label in ("pickups", "dropoffs"):
            y = actual.loc[known, label].to_numpy()
            naive = baselines.baseline_predictions(labels, train, keys, label, time_zone)[
                "mean_last_4_same_weekday_hours"
            ]
            out[f"h{k}_{label}_mae"] = evaluate.mae_rmse(y, block.loc[known, label].to_numpy())["mae"]
            out[f"h{k}_{label}_naive_4w_mae"] = evaluate.mae_rmse(y, naive)["mae"]
    return out


def train_and_evaluate(
    cutoff: datetime,
    config: TrainConfig | None = None,
    settings: Settings | None = None,
    cadence: TrainCadence | None = None,
) -> Evaluation:
    """Fit the candidate on the training part of the window, score it and every baseline on the validation
    days, decide the gate and draw the picture; stores model.skops and the PNG (uncommitted).

    One step, because both halves need the same window: fetching it from the BigQuery emulator costs
    ~20 s per 70k wide rows, and reading it twice doubled the run time.

    Off the system's training cadence (``BIKESHARE_TRAIN_CADENCE``, :mod:`include.ml.cadence`) nothing is fitted
    while the system has a promoted model: the run predicts with it.
    """
    s, run = settings or get_settings(), Run(cutoff, config or TrainConfig())
    zone = time_zone(s.system_id)
    stored = registry.read_metadata(run.version, s)
    if stored is not None:
        log.info("model %s is committed already: reused, not retrained", run.version)
        return Evaluation(
            version=run.version,
            reused=True,
            promoted=bool(stored["promoted"]),
            gate=str(stored["gate"]),
            metrics=stored["metrics"],
            rows=stored.get("rows", {}),
        )
    cadence = cadence or TrainCadence.from_env()
    if not cadence.fits(run.cutoff, zone):
        current = registry.serving(run.version, s).version
        if current is not None:
            gate = f"off the training cadence ({cadence.describe(zone)}): the promoted model {current} serves"
            log.info("%s: %s", run.version, gate)
            return Evaluation(version=run.version, reused=True, promoted=False, gate=gate, metrics={}, rows={})
    frame = dataset.training_frame(run.window, s)
    train_part, valid_part = _split(frame, run)
    rows = {"train": len(train_part), "validation": len(valid_part), "stations": int(frame["station_id"].nunique())}
    # what the horizons and the baselines read of the window: its labels; the features (most of the memory: at 500
    # stations and 26 weeks ~1 GB a copy) live on only in the two parts
    labels = frame[["station_id", "hour_start", *dataset.LABELS]]
    del frame
    memory.release()
    if train_part.empty or valid_part.empty:
        reason = f"not enough data in {run.window.start:%Y-%m-%d %H:%M} to {run.cutoff:%Y-%m-%d %H:%M} UTC"
        log.warning("no model for %s: %s", run.version, reason)
        return Evaluation(version=run.version, reused=False, promoted=False, gate=reason, metrics={}, rows=rows)
    features = dataset.feature_columns(train_part)
    model = StationFlowModel(
        features,
        run.config.net_forecast,
        dict(run.config.params),
        mean_forecast=run.config.mean_forecast,
        horizons=run.config.horizons,
        time_zone=zone,
    ).fit(train_part)
    trained_at = datetime.now(UTC).isoformat()
    profile = drift.profile(train_part, features)
    model_sha256 = registry.save_model(run.version, model, s)

    by_horizon = model.predict_horizons(valid_part, labels)  # history: only hours before each row's T are read
    predicted = by_horizon[by_horizon["horizon"] == 1].drop(columns="horizon")
    naive = baselines.baseline_predictions(labels, train_part, valid_part, time_zone=zone)
    metrics = _metrics(valid_part, predicted, naive)
    decision = evaluate.gate({k: metrics[k] for k in ("model", *baselines.BASELINES)})
    horizons = _horizon_metrics(labels, train_part, valid_part, by_horizon, zone)
    (log.info if decision.promoted else log.warning)("gate for %s: %s", run.version, decision.reason)
    last_day = valid_part[valid_part["hour_start"] >= run.cutoff - timedelta(hours=24)]
    png = plot.evaluation_png(
        last_day.assign(predicted=predicted.loc[last_day.index, "net_change"].to_numpy()),
        metrics,
        f"model {run.version}: next-hour net change, last 24 h of validation "
        f"({'promoted' if decision.promoted else 'NOT promoted'})",
    )
    registry.save_plot(run.version, png, s)
    return Evaluation(
        version=run.version,
        reused=False,
        promoted=decision.promoted,
        gate=decision.reason,
        metrics={**metrics, "horizons": horizons},
        rows=rows,
        features=list(model.features),
        point_forecasts=dict(model.point_forecasts),
        trained_at=trained_at,
        model_sha256=model_sha256,
        feature_profile=profile,
        feature_alert_psi=drift.thresholds(profile, train_part, features),
    )


def publish(
    cutoff: datetime, evaluation: Evaluation, config: TrainConfig | None = None, settings: Settings | None = None
) -> Publication:
    """Commit the version's metadata (once), move ``latest.json`` if promoted, and name the serving model: the
    newest verified promoted version up to the hour, never one that fails verification (those are listed); for
    an hour that was served already (a rerun, a backfill), the version that served it, if it still verifies."""
    s, run = settings or get_settings(), Run(cutoff, config or TrainConfig())
    if evaluation.version != run.version:
        raise ValueError(f"the evaluation is of {evaluation.version}, the run's version is {run.version}")
    if not evaluation.reused:
        window = run.window
        metadata = {
            "version": run.version,
            "trained_at": evaluation.trained_at,
            "cutoff_hour": run.cutoff.isoformat(),
            "training_window": {
                "start": window.start.isoformat(),
                "end": window.end.isoformat(),
                "validation_start": run.validation_start.isoformat(),
            },
            "features": evaluation.features,
            "point_forecasts": evaluation.point_forecasts,
            "scored_columns": SCORED_COLUMNS,
            "metrics": evaluation.metrics,
            "promoted": evaluation.promoted,
            "gate": evaluation.gate,
            "rows": evaluation.rows,
            "config": asdict(run.config),
            "package_versions": _package_versions(),
            "code_version": _code_version(),
            registry.MODEL_SHA256: evaluation.model_sha256,
            "feature_profile": evaluation.feature_profile,  # what feature drift is measured against
            "feature_alert_psi": evaluation.feature_alert_psi,  # and each feature's bar (include/ml/drift.py)
        }
        registry.commit(run.version, metadata, s)
    if evaluation.promoted:
        registry.point_latest(run.version, s)
    published = _serving(run, evaluation.promoted, run.version, s)
    if not evaluation.promoted:
        log.warning("model %s not promoted (%s); serving %s", run.version, evaluation.gate, published.serving_version)
    return published


def serving_for(
    cutoff: datetime, settings: Settings | None = None, cadence: TrainCadence | None = None
) -> Publication | None:
    """The model that serves the hour ``T``, or None while it must wait for ``T``'s own fit (the DAG's
    ``serving_model`` sensor pokes again).

    - ``hourly`` cadence: ``T``'s own fit, once published (the freshest model; the fit is on the hour's path).
    - ``daily`` / ``weekly``: the newest verified promoted model fitted *before* ``T``. A fit at ``T`` serves from
      ``T + 1h`` on, so the hour's forecasts never wait for a fit (a 26-week fit of 500 stations takes ~20 min):
      the fit runs beside them. A system with none before ``T`` (its first fit) waits for ``T``'s.
    - An hour served already (a rerun, a backfill): the version that served it, if it still verifies.

    The rule depends on what was committed before ``T``, never on which task finished first, so a rerun
    chooses as the live run did."""
    s, run = settings or get_settings(), Run(cutoff, TrainConfig())
    cadence = cadence or TrainCadence.from_env()
    own = registry.read_metadata(run.version, s)
    promoted = bool(own and own.get("promoted"))
    if cadence.cadence != "hourly":
        before = _serving(run, promoted, registry.version_for(run.cutoff - timedelta(hours=1)), s)
        if before.serving_version is not None:
            return before
    if own is None:
        log.info("%s: waiting for the hour's own fit (%s)", run.version, cadence.cadence)
        return None
    return _serving(run, promoted, run.version, s)


def _serving(run: Run, promoted: bool, at_or_before: str, s: Settings) -> Publication:
    """The hour's :class:`Publication`: the newest verified promoted version up to ``at_or_before``, or, for an
    hour served already, the version that served it (if it still verifies)."""
    serving = registry.serving(at_or_before, s)
    version, unverifiable = serving.version, list(serving.unverifiable)
    served_by = served.served_version(run.cutoff, s)
    if served_by is not None and served_by != version:  # a rerun of a served hour: the model that served it
        checked = registry.verify(served_by, s)
        if isinstance(checked, registry.Verified):
            log.info("the hour %s was served by model %s: this rerun predicts with it", run.cutoff, served_by)
            version = served_by
        else:
            if all(bad.version != served_by for bad in unverifiable):
                unverifiable.append(checked)
            log.error("hour %s: its model %s no longer verifies; the rerun uses %s", run.cutoff, served_by, version)
    return Publication(
        version=run.version,
        promoted=promoted,
        serving_version=version,
        unverifiable=[bad.to_xcom() for bad in unverifiable],
    )


def predict(cutoff: datetime, serving_version: str | None, settings: Settings | None = None) -> list[dict]:
    """Predictions of the serving model for every active station and each horizon it has: rows of horizon 1
    (``target_hour`` = the cut-off), then 2, then 3 (``target_hour`` one and two hours later), stations in
    the same order in each.

    The model is verified again as it is loaded: if its file changed since publish chose it, this raises
    :class:`registry.UntrustedModel` (the task fails and alerts) rather than predict with it."""
    s = settings or get_settings()
    run = Run(cutoff, TrainConfig())
    if serving_version is None:
        log.warning("no promoted model at or before %s: nothing to predict with", run.version)
        return []
    frame = dataset.prediction_frame(run.cutoff, s)
    if frame.empty:
        raise ValueError(f"no features as of {run.cutoff.isoformat()}")
    model: StationFlowModel = registry.load_model(serving_version, s)
    history = dataset.label_history(run.cutoff - HISTORY_REACH, run.cutoff, s) if model.needs_history else None
    out = model.predict_horizons(frame, history)
    stations = frame["station_id"].reindex(out.index)
    return [
        {
            "station_id": str(sid),
            "target_hour": (run.cutoff + timedelta(hours=int(h) - 1)).isoformat(),
            "horizon": int(h),
            "predicted_net_change": float(n),
            "predicted_net_change_mean": float(m),
            "predicted_pickups": float(p),
            "predicted_dropoffs": float(d),
            "model_version": serving_version,
        }
        for sid, h, n, m, p, d in zip(
            stations,
            out["horizon"],
            out["net_change"],
            out["net_change_mean"],
            out["pickups"],
            out["dropoffs"],
            strict=True,
        )
    ]


def write_predictions(
    cutoff: datetime,
    serving_version: str | None,
    rows: list[dict],
    settings: Settings | None = None,
    run_id: str | None = None,
) -> str | None:
    """Write the run's rows (every horizon) as one Avro object and load them into BigQuery: the hour's record
    (``predictions/{version}/...`` and ``station_predictions``, which live monitoring scores on horizon 1 and
    the rebalancing plan reads) if nothing was served for the hour yet, else a backfill beside it
    (``predictions_backfill/...`` and ``station_predictions_backfill``, marked with ``run_id``) that leaves
    the served forecasts as they were (:func:`served.write_run`). Returns the object's URI.

    The hour and the version come from the run; every row must agree with them (``target_hour`` = cut-off +
    horizon - 1 h; a row without a horizon is the next hour's)."""
    run = Run(cutoff, TrainConfig())
    if not rows:
        return None
    stray = [
        r
        for r in rows
        if r["target_hour"] != (run.cutoff + timedelta(hours=int(r.get("horizon", 1)) - 1)).isoformat()
        or r["model_version"] != serving_version
    ]
    if stray:
        raise ValueError(f"{len(stray)} row(s) are not of {run.cutoff.isoformat()} / {serving_version}: {stray[0]}")
    generated_at = datetime.now(UTC)
    recs = [
        {
            **r,
            "horizon": int(r.get("horizon", 1)),
            "target_hour": datetime.fromisoformat(r["target_hour"]),
            "generated_at": generated_at,
        }
        for r in rows
    ]
    written = served.write_run(recs, run.cutoff, str(serving_version), run_id, settings)
    table = "station_predictions" if written.served else "station_predictions_backfill"
    log.info("%s written; %d rows of the run at %s loaded into %s", written.path, written.rows, run.cutoff, table)
    return written.path
