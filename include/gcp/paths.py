"""Object paths on the bucket (docs/design.md §2.5): the only module that spells them out.

Everything of a system (models, predictions, plans) lives under its root ``{env}/{system_id}``
(:func:`system_root`, ``Settings.system_root``); what belongs to the deployment (Dataflow's files)
under ``{env}`` alone. Objects written before systems, under ``{env}/models`` and so on, are copied to
the Jersey City root once (:mod:`include.gcp.bucket_migration`).

Paths are relative to the bucket and start with the env prefix (``dev`` or ``prod``), so a
development run never touches production objects.
"""

from __future__ import annotations

from datetime import datetime

from include.hours import Hour


def dataflow_temp(env: str) -> str:
    """Dataflow's temp files (the streaming job's launch argv)."""
    return f"{env}/dataflow/tmp"


def dataflow_staging(env: str) -> str:
    """Where Dataflow stages the workers' package."""
    return f"{env}/dataflow/staging"


def system_root(env: str, system_id: str) -> str:
    """``{env}/{system_id}``: the first argument of every system path below."""
    if not system_id or "/" in system_id:
        raise ValueError(f"bad system id {system_id!r}")
    return f"{env}/{system_id}"


LEGACY_SYSTEM_PREFIXES = ("models", "predictions", "predictions_backfill", "rebalancing")  # under {env}/, pre-systems


def models_prefix(root: str) -> str:
    return f"{root}/models"


def _version(model_version: str) -> str:
    if not model_version or "/" in model_version:
        raise ValueError(f"bad model version {model_version!r}")
    return model_version


def model_dir(root: str, model_version: str) -> str:
    return f"{models_prefix(root)}/{_version(model_version)}"


def model_pickle(root: str, model_version: str) -> str:
    """Where models were pickled before the skops format: only looked for, to say why a version is refused."""
    return f"{model_dir(root, model_version)}/model.pkl"


def model_skops(root: str, model_version: str) -> str:
    """The model file (skops: state, never code)."""
    return f"{model_dir(root, model_version)}/model.skops"


def model_metadata(root: str, model_version: str) -> str:
    return f"{model_dir(root, model_version)}/metadata.json"


def model_plot(root: str, model_version: str) -> str:
    """The evaluation picture (predicted vs actual, metrics table) beside the model."""
    return f"{model_dir(root, model_version)}/evaluation.png"


def model_risk_reliability(root: str, model_version: str) -> str:
    """The risk's reliability plot on replayed days (include/rebalancing/calibration.py) beside the model."""
    return f"{model_dir(root, model_version)}/risk_reliability.png"


def model_risk_calibration(root: str, model_version: str) -> str:
    """The JSON summary of the same calibration (Brier scores, counts, bins), beside its plot."""
    return f"{model_dir(root, model_version)}/risk_calibration.json"


def latest_model_pointer(root: str) -> str:
    return f"{models_prefix(root)}/latest.json"


def predictions(root: str, model_version: str, cutoff: datetime) -> str:
    """``{root}/predictions/{version}/{YYYY-MM-DD}/{HH}.avro`` of the run at cut-off ``T``: its rows for every
    horizon (the next hour ``[T, T+1h)`` is horizon 1; before the horizons, that hour was the file's only)."""
    hour = Hour.of(cutoff).start  # strict: bucket paths are in whole UTC hours
    return f"{root}/predictions/{_version(model_version)}/{hour:%Y-%m-%d}/{hour:%H}.avro"


def predictions_backfill(root: str, cutoff: datetime) -> str:
    """``{root}/predictions_backfill/{YYYY-MM-DD}/{HH}.avro``: the newest rerun's forecasts of a run at cut-off
    ``T`` that was served already (include/ml/served.py); the served file under ``predictions/`` is never
    touched. One object per hour, replaced by the next rerun (its rows name their model version)."""
    hour = Hour.of(cutoff).start
    return f"{root}/predictions_backfill/{hour:%Y-%m-%d}/{hour:%H}.avro"


def rebalancing_plan(root: str, plan_hour: datetime) -> str:
    """``{root}/rebalancing/{YYYY-MM-DD}/{HH}.json``: the hour's moves and station risks (one object per hour,
    replaced by a rerun). Not under a model version: the plan is of the hour, whichever model's rates fed it."""
    hour = Hour.of(plan_hour).start
    return f"{root}/rebalancing/{hour:%Y-%m-%d}/{hour:%H}.json"
