"""Planted models: what an attacker who can write the bucket can put there, and what the registry makes of it.

Four variants (issue 21 point 3), each with four payloads that create a marker file if any of their code
runs: a pickle whose ``__reduce__`` touches the marker, planted as the legacy ``model.pkl`` and as
``model.skops``, and two skops files of a real StationFlowModel with one attribute that, once built, calls
``builtins.exec`` or ``os.system`` (skops would run them if their types were trusted:
``tests/ml/test_model_file.py`` shows it). The variants:

- ``no checksum``: the planted version's ``metadata.json`` (promoted) has no ``model_sha256``;
- ``wrong checksum``: it has one that does not match the file;
- ``matching checksum``: it has the file's own sha256 (an attacker can compute it);
- ``matching checksum + pointer``: that, and ``latest.json`` moved to the planted version.

The bucket holds two verified promoted versions, ``GOOD`` and ``LATER`` (the pointer), with the planted
version between them. Each case probes the live hour (``LIVE``: the pointer's, or the newest verified,
version serves) and a backfill hour after the planted version (``BACKFILL``: the committed versions are
searched, so the planted one is looked at), through the publish step and its alert as the DAG runs them.
:func:`planted_model_outcomes` is the report's entry point (``benchmarks/faults_report.py``).
"""

from __future__ import annotations

import io
import json
import pickle
import tempfile
import uuid
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from google.api_core.exceptions import NotFound

from include.gcp import bucket, clients, paths
from include.gcp.settings import Settings
from include.ml import hourly, model_file, registry
from include.ml.model import StationFlowModel
from include.monitoring import alerts
from tests.ml.conftest import START, make_features, make_labels

HOURS = 168
CUTOFF = START + timedelta(hours=HOURS)  # the feature store of ``feature_store("lagged", 1)`` ends here
GOOD = registry.version_for(CUTOFF - timedelta(hours=6))
PLANTED = registry.version_for(CUTOFF - timedelta(hours=4))
BACKFILL = CUTOFF - timedelta(hours=3)  # a backfilled hour after the planted version, before LATER
LATER = registry.version_for(CUTOFF - timedelta(hours=1))  # what latest.json names before the attack
LIVE = CUTOFF
VARIANTS = ("no checksum", "wrong checksum", "matching checksum", "matching checksum + pointer")


class PlantsAFile:
    """A pickle that runs code when loaded: it creates ``path`` (what an attacker's file would do)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.path,))


def fitted_model(hours: int = 2 * HOURS) -> StationFlowModel:
    """A small StationFlowModel fitted on two weeks of the ML tests' lagged tables (their feature columns; the
    first week alone has no 168-hour lags)."""
    labels = make_labels(hours, "lagged")
    features = make_features(labels, START + timedelta(hours=hours))
    keys = ["system_id", "station_id", "hour_start"]
    frame = labels.merge(features.rename(columns={"as_of": "hour_start"}), on=keys)
    columns = [c for c in features.columns if c not in ("system_id", "station_id", "as_of")]
    params = {"max_iter": 20, "random_state": 0}
    return StationFlowModel(columns, "skellam_median", params, mean_forecast="direct").fit(frame)


def _node_ids() -> Iterator[int]:
    n = 10**15
    while True:
        n += 1
        yield n


def _json_node(value: str, ids: Iterator[int]) -> dict[str, Any]:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
        "__id__": next(ids),
    }


def _call_node(module: str, name: str, argument: str, ids: Iterator[int]) -> dict[str, Any]:
    """A skops node that, when built, calls ``module.name(argument)`` (skops' ConstructorFromReduceNode)."""
    args = {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": [_json_node(argument, ids)],
        "__id__": next(ids),
    }
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode", "content": args}


def skops_with_call(module: str, name: str, argument: str) -> bytes:
    """A valid skops file of a StationFlowModel with one more attribute: a call of ``module.name(argument)``."""
    with zipfile.ZipFile(io.BytesIO(model_file.dumps(StationFlowModel(["x"])))) as source:
        files = {info.filename: source.read(info) for info in source.infolist()}
    schema = json.loads(files["schema.json"])
    attributes = schema["content"]
    ids = _node_ids()
    attributes["content"]["planted"] = {**_call_node(module, name, argument, ids), "__id__": next(ids)}
    attributes["key_types"]["content"].append(dict(attributes["key_types"]["content"][0]))
    files["schema.json"] = json.dumps(schema).encode()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name_, data in files.items():
            target.writestr(name_, data)
    return out.getvalue()


def payloads(marker: Path) -> dict[str, tuple[str, bytes]]:
    """Payload name -> (file name on the bucket, bytes); each creates ``marker`` if its code runs."""
    code = f"__import__('pathlib').Path({str(marker)!r}).touch()"
    pickled = pickle.dumps(PlantsAFile(marker))
    return {
        "pickle as model.pkl": ("model.pkl", pickled),
        "pickle as model.skops": ("model.skops", pickled),
        "skops calling builtins.exec": ("model.skops", skops_with_call("builtins", "exec", code)),
        "skops calling os.system": ("model.skops", skops_with_call("os", "system", f"touch {marker}")),
    }


def commit_model(s: Settings, version: str, model: StationFlowModel) -> None:
    """A version committed and promoted through the registry, as a good run leaves it."""
    checksum = registry.save_model(version, model, s)
    registry.commit(version, {"version": version, "promoted": True, registry.MODEL_SHA256: checksum}, s)
    registry.point_latest(version, s)


def plant(s: Settings, variant: str, file_name: str, data: bytes) -> None:
    """Write the planted version as an attacker would: straight to the bucket, no registry call."""
    directory = paths.model_dir(s.system_root, PLANTED)
    bucket.write_bytes(f"{directory}/{file_name}", data, "application/octet-stream", s)
    metadata: dict[str, Any] = {"version": PLANTED, "promoted": True, "gate": "model MAE 0.001 beats every baseline"}
    if variant != "no checksum":
        metadata[registry.MODEL_SHA256] = registry.sha256(data) if "matching" in variant else "0" * 64
    bucket.write_bytes(
        paths.model_metadata(s.system_root, PLANTED), json.dumps(metadata).encode(), "application/json", s
    )
    if variant.endswith("+ pointer"):
        pointer = {"model_version": PLANTED, "metadata": paths.model_metadata(s.system_root, PLANTED)}
        bucket.write_bytes(
            paths.latest_model_pointer(s.system_root), json.dumps(pointer).encode(), "application/json", s
        )


def unplant(s: Settings) -> None:
    """Delete the planted version and point latest.json back at LATER (the operator's fix)."""
    store = clients.storage_client(s).bucket(s.bucket)
    for path in bucket.list_paths(paths.model_dir(s.system_root, PLANTED) + "/", s):
        with suppress(NotFound):
            store.blob(path).delete()
    pointer = {"model_version": LATER, "metadata": paths.model_metadata(s.system_root, LATER)}
    bucket.write_bytes(paths.latest_model_pointer(s.system_root), json.dumps(pointer).encode(), "application/json", s)


def publish(s: Settings, hour: datetime) -> dict[str, Any]:
    """The DAG's publish step for ``hour`` (a rerun of a committed, not promoted hour) and its alert."""
    version = registry.version_for(hour)
    evaluation = hourly.Evaluation(version=version, reused=True, promoted=False, gate="rerun", metrics={})
    published = hourly.publish(hour, evaluation, settings=s).to_xcom()
    alerts.unverifiable_models(published, settings=s)
    return published


@dataclass(frozen=True)
class Outcome:
    """What the registry did with one planted case."""

    variant: str
    payload: str
    verdict: str  # the verifier's reason, or "VERIFIED"
    load_error: str | None  # registry.load_model's refusal, None if it loaded
    live: dict[str, Any]  # publish of LIVE: serving_version, unverifiable
    backfill: dict[str, Any]  # publish of BACKFILL
    alerts: list[dict[str, Any]]  # model_unverifiable alerts this case sent
    code_ran: bool

    @property
    def summary(self) -> str:
        ran = "CODE RAN" if self.code_ran else "no code ran"
        refused = "loaded" if self.load_error is None else f"refused ({self.verdict})"
        return (
            f"{refused}; live hour served by {self.live['serving_version']}, backfill by "
            f"{self.backfill['serving_version']}; {len(self.alerts)} model_unverifiable alert(s); {ran}"
        )


def run_case(s: Settings, variant: str, payload: str, marker: Path, after: Callable[[], None] | None = None) -> Outcome:
    """Plant one case, verify, load, publish the live and the backfill hour (``after``: more steps while
    planted, e.g. predict), then remove it; the marker says whether anything of the payload ran."""
    file_name, data = payloads(marker)[payload]
    seen = len(alerts.read_log(s))
    plant(s, variant, file_name, data)
    try:
        checked = registry.verify(PLANTED, s)
        try:
            registry.load_model(PLANTED, s)
            load_error = None
        except registry.UntrustedModel as err:
            load_error = str(err)
        live, backfill = publish(s, LIVE), publish(s, BACKFILL)
        if after is not None:
            after()
    finally:
        unplant(s)
    sent = [a for a in alerts.read_log(s)[seen:] if a["kind"] == "model_unverifiable"]
    verdict = checked.reason if isinstance(checked, registry.Unverifiable) else "VERIFIED"
    return Outcome(variant, payload, verdict, load_error, live, backfill, sent, marker.exists())


@contextmanager
def planted_bucket(settings: Settings, alert_log: Path) -> Iterator[Settings]:
    """A throw-away bucket holding GOOD and LATER (verified, promoted; latest.json at LATER)."""
    s = replace(settings, bucket=f"{settings.bucket}-planted-{uuid.uuid4().hex[:8]}", alert_log=alert_log)
    clients.storage_client(s).create_bucket(s.bucket)
    try:
        model = fitted_model()
        commit_model(s, GOOD, model)
        commit_model(s, LATER, model)
        yield s
    finally:
        with suppress(NotFound):
            clients.storage_client(s).bucket(s.bucket).delete(force=True)


def run_all(s: Settings, markers: Path) -> list[Outcome]:
    return [
        run_case(s, variant, payload, markers / f"{i}-{j}")
        for i, variant in enumerate(VARIANTS)
        for j, payload in enumerate(payloads(markers / "unused"))
    ]


def planted_model_outcomes(settings: Settings) -> list[tuple[str, str]]:
    """(case, what happened) for every variant x payload, on a throw-away bucket of ``settings``' stack
    (the alerts go to a temporary log, not ``settings.alert_log``)."""
    with tempfile.TemporaryDirectory() as tmp, planted_bucket(settings, Path(tmp) / "alerts.jsonl") as s:
        return [(f"{o.variant}, {o.payload}", o.summary) for o in run_all(s, Path(tmp))]


def frame_for(model: StationFlowModel) -> pd.DataFrame:
    """Rows to compare two models' predictions on: the lagged tables' feature rows."""
    labels = make_labels(HOURS, "lagged")
    features = make_features(labels, START + timedelta(hours=HOURS))
    return features.reindex(columns=["station_id", "as_of", *model.features])
