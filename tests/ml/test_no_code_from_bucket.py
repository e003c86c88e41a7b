"""Issue 21 point 3, on the GCS emulator: a model planted on the bucket never runs code and never serves.

Each of the four variants (no checksum, wrong checksum, matching checksum, matching checksum + latest.json
moved to it) with each payload (a ``__reduce__`` pickle as model.pkl and as model.skops; skops files
calling ``builtins.exec`` / ``os.system``) is refused without creating the payload's marker; the live
hour keeps the newest verified model, a backfill that meets the planted version falls back past it, and
every skip alerts ``model_unverifiable`` with what failed, where and what to do. Scenario:
``tests/ml/planting.py``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from include.gcp import bucket, paths
from include.gcp.settings import Settings
from include.ml import hourly, predictions, registry, served
from include.monitoring import alerts
from tests.ml import planting
from tests.ml.conftest import STATIONS

pytestmark = pytest.mark.integration

REASONS = {  # variant -> payload -> what the verifier must say
    "no checksum": "no model_sha256 in metadata.json",
    "wrong checksum": "torn or swapped",
    "matching checksum": "refused by the loader",
    "matching checksum + pointer": "refused by the loader",
}


@pytest.fixture(scope="module")
def outcomes(test_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> list[planting.Outcome]:
    tmp = tmp_path_factory.mktemp("planted")
    with planting.planted_bucket(test_settings, tmp / "alerts.jsonl") as s:
        return planting.run_all(s, tmp)


def test_every_planted_variant_is_refused_without_running_anything(outcomes: list[planting.Outcome]) -> None:
    assert {(o.variant, o.payload) for o in outcomes} == {
        (v, p) for v in planting.VARIANTS for p in planting.payloads(Path("unused"))
    }
    assert [(o.variant, o.payload) for o in outcomes if o.code_ran] == []  # no marker file from any payload
    for o in outcomes:
        case = f"{o.variant}, {o.payload}"
        assert o.load_error is not None, case
        assert "not loading it" in o.load_error, case
        if o.payload == "pickle as model.pkl":  # the registry looks for model.skops only: the pickle is a relic
            assert "only a pickled model.pkl" in o.verdict, case
        elif o.variant.startswith("matching") and o.payload.startswith("pickle"):
            assert "not a skops file" in o.verdict, case
        elif o.variant.startswith("matching"):
            assert "outside TRUSTED_TYPES" in o.verdict, case
        else:
            assert REASONS[o.variant] in o.verdict, case


def test_no_planted_version_serves_and_each_skip_alerts(outcomes: list[planting.Outcome]) -> None:
    for o in outcomes:
        case = f"{o.variant}, {o.payload}"
        # the live hour: the pointer's model, or with the pointer on the planted version the newest verified one
        assert o.live["serving_version"] == planting.LATER, case
        # a backfill after the planted version: what served then, the planted version skipped
        assert o.backfill["serving_version"] == planting.GOOD, case
        assert [bad["version"] for bad in o.backfill["unverifiable"]] == [planting.PLANTED], case
        moved = o.variant.endswith("+ pointer")
        assert [bad["version"] for bad in o.live["unverifiable"]] == ([planting.PLANTED] if moved else []), case
        assert len(o.alerts) == (2 if moved else 1), case
        for alert in o.alerts:
            assert alert["details"]["version"] == planting.PLANTED
            assert f"model {planting.PLANTED} failed verification" in alert["summary"]
            assert alert["details"]["object"] in alert["summary"]  # where
            assert f"/models/{planting.PLANTED}/" in alert["details"]["object"]
            assert "To do: delete gs://" in alert["summary"]  # what to do
            assert f"use {alert['details']['serving_version']}, the newest verified promoted model" in alert["summary"]


@pytest.fixture(scope="module")
def store(feature_store, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The ML tests' feature store (lagged, one week) with GOOD and LATER committed, alerts to a temp log."""
    settings, _, _ = feature_store("lagged", 1)
    s = replace(settings, alert_log=tmp_path_factory.mktemp("store") / "alerts.jsonl")
    model = planting.fitted_model()
    planting.commit_model(s, planting.GOOD, model)
    planting.commit_model(s, planting.LATER, model)
    return s


def test_prediction_falls_back_to_the_newest_verified_model_idempotently(store: Settings, tmp_path: Path) -> None:
    """latest.json moved to a planted skops file with a matching checksum: the hour is still predicted, by
    LATER, and a rerun of the hour leaves the served Avro file and rows as they were (its own: a backfill)."""
    s, hour, marker = store, planting.LIVE, tmp_path / "code-ran"
    runs: list[tuple[hourly.Publication, list[dict], list[str]]] = []

    def dag_run() -> None:  # the DAG's publish (with its alert), predict and write_predictions
        published = hourly.Publication.from_xcom(planting.publish(s, hour))
        rows = hourly.predict(hour, published.serving_version, s)
        hourly.write_predictions(hour, published.serving_version, rows, s)
        runs.append((published, rows, bucket.list_paths(f"{s.system_root}/predictions/", s)))

    outcome = planting.run_case(
        s, "matching checksum + pointer", "skops calling builtins.exec", marker, after=lambda: (dag_run(), dag_run())
    )
    assert not outcome.code_ran
    for published, rows, _ in runs:
        assert published.serving_version == planting.LATER
        assert [bad["version"] for bad in published.unverifiable] == [planting.PLANTED]
        assert sorted(r["station_id"] for r in rows if r["horizon"] == 1) == sorted(STATIONS)
        assert {r["model_version"] for r in rows} == {planting.LATER}
    assert runs[0][2] == runs[1][2] == [paths.predictions(s.system_root, planting.LATER, hour)]  # the served file, kept
    assert bucket.exists(paths.predictions_backfill(s.system_root, hour), s)  # the rerun's, beside it
    assert served.rows_for_hour(hour, s) == len(STATIONS)  # the hour's served rows, not doubled
    written = predictions.next_hour(predictions.read(planting.LATER, hour, s))
    written = pd.DataFrame(written).set_index("station_id").sort_index()
    frame = planting.frame_for(registry.load_model(planting.LATER, s))
    expected = registry.load_model(planting.LATER, s).predict(frame[frame["as_of"] == hour].set_index("station_id"))
    assert written["predicted_net_change"].to_numpy() == pytest.approx(expected.sort_index()["net_change"].to_numpy())
    sent = [
        a
        for a in alerts.read_log(s)
        if a["kind"] == "model_unverifiable" and a["details"]["hour"] == registry.version_for(hour)
    ]
    assert len(sent) == 3  # the case's own live publish and the two DAG runs'
    assert all(a["details"]["serving_version"] == planting.LATER for a in sent)


def test_a_model_trained_and_committed_round_trips_on_the_bucket(store: Settings) -> None:
    s = store
    model = planting.fitted_model()
    frame = planting.frame_for(model)
    loaded = registry.load_model(planting.LATER, s)
    pd.testing.assert_frame_equal(loaded.predict(frame), model.predict(frame), check_exact=True)
    assert registry.serving_version(registry.version_for(planting.LIVE), s) == planting.LATER
