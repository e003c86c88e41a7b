"""bikeshare_train_predict, run for real with dag.test() on the local stack over feature-store tables of the
dbt contract's shape: it trains, gates, publishes and writes the run's Avro (horizons 1..3); a rerun changes no
served object and writes its forecasts as a backfill beside them; locally, a wall-clock hour after the data is
skipped without an alert."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from include.gcp import bucket, paths
from include.ml import predictions, registry, served
from include.monitoring import alerts
from tests.conftest import DAGS_FOLDER
from tests.dags.conftest import CUTOFF
from tests.ml import planting
from tests.ml.conftest import STATIONS

pytestmark = [pytest.mark.integration, pytest.mark.airflow]
HOUR = timedelta(hours=1)


def test_train_predict_dag_writes_the_hours_avro_and_reruns_replace_it(airflow_db, feature_store_env) -> None:
    from airflow.dag_processing.dagbag import DagBag

    s = feature_store_env
    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_train_predict")
    # the tests' hourly cadence (tests/conftest.py): the hour is served by its own fit, after publish
    assert "per_system.publish" in dag.get_task("per_system.serving_model").upstream_task_ids
    assert dag.test(logical_date=CUTOFF).state == "success"

    version = registry.version_for(CUTOFF)
    meta = registry.read_metadata(version, s)
    assert meta["promoted"] is True, meta["gate"]
    assert registry.latest(s)["model_version"] == version
    target = CUTOFF
    rows = predictions.read(version, target, s)  # the run's one file: horizons 1, 2, 3
    assert sorted(r["station_id"] for r in predictions.next_hour(rows)) == sorted(STATIONS)
    assert sorted({(r["horizon"], r["target_hour"]) for r in rows}) == [(k, target + (k - 1) * HOUR) for k in (1, 2, 3)]
    objects = bucket.list_paths(f"{s.env}/", s)
    assert [p for p in objects if p.endswith(".avro")] == [paths.predictions(s.system_root, version, target)]

    assert served.rows_for_hour(target, s) == len(STATIONS)  # loaded for live monitoring (horizon 1)
    plan = json.loads(bucket.read_bytes(paths.rebalancing_plan(s.system_root, CUTOFF), s))  # the hour's plan, after it
    assert sorted(r["station_id"] for r in plan["stations"]) == sorted(STATIONS)
    assert {r["problem"] for r in plan["stations"]} == {"no status reported"}  # no feed polled here: said, not hidden
    assert len(served.rates_for_run(target, s)) == 3 * len(STATIONS)  # and every horizon, for the plan

    served_file = bucket.read_bytes(paths.predictions(s.system_root, version, target), s)
    assert dag.test(logical_date=CUTOFF).state == "success"  # rerun of the same hour: a backfill beside the record
    backfill = paths.predictions_backfill(s.system_root, target)
    assert set(bucket.list_paths(f"{s.env}/", s)) == {*objects, backfill}
    assert bucket.read_bytes(paths.predictions(s.system_root, version, target), s) == served_file  # as served
    assert {r["model_version"] for r in predictions.read_backfill(target, s)} == {version}  # the model that served
    assert served.rows_for_hour(target, s) == len(STATIONS)  # not doubled
    assert len(served.rates_for_run(target, s)) == 3 * len(STATIONS)

    # a manual run at 09:17 (any minute) is the run of its hour: same version, same files, no error
    assert dag.test(logical_date=CUTOFF + timedelta(minutes=17)).state == "success"
    assert set(bucket.list_paths(f"{s.env}/", s)) == {*objects, backfill}
    assert bucket.read_bytes(paths.predictions(s.system_root, version, target), s) == served_file
    assert served.rows_for_hour(target, s) == len(STATIONS)


def test_under_the_daily_cadence_the_hour_is_served_by_the_model_before_it_while_its_fit_runs_beside(
    airflow_db, feature_store_env, monkeypatch
) -> None:
    """On its daily fitting hour, the system's forecasts come from the model fitted before the hour (the serving
    sensor does not wait for the fit: no edge from publish), the hour's fit is committed and promoted beside them and
    serves from the next hour; fits run one at a time across runs, so the hour's path keeps a core."""
    from zoneinfo import ZoneInfo

    from airflow.dag_processing.dagbag import DagBag

    from include.systems import time_zone

    s = feature_store_env
    monkeypatch.setenv("BIKESHARE_TRAIN_CADENCE", "daily")  # read as the DAG file is parsed, and by the tasks
    monkeypatch.setenv("BIKESHARE_TRAIN_LOCAL_HOUR", str(CUTOFF.astimezone(ZoneInfo(time_zone(s.system_id))).hour))
    earlier = registry.version_for(CUTOFF - HOUR)
    planting.commit_model(s, earlier, planting.fitted_model())  # yesterday's fit, say
    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_train_predict")
    assert "per_system.publish" not in dag.get_task("per_system.serving_model").upstream_task_ids
    assert dag.get_task("per_system.train_and_evaluate").max_active_tis_per_dag == 1

    assert dag.test(logical_date=CUTOFF).state == "success"
    version = registry.version_for(CUTOFF)
    assert registry.read_metadata(version, s)["promoted"] is True  # the hour's own fit, beside the forecasts
    assert registry.latest(s)["model_version"] == version
    rows = predictions.read(earlier, CUTOFF, s)  # served by the model before the hour, under its version's path
    assert {r["model_version"] for r in rows} == {earlier}
    assert sorted(r["station_id"] for r in predictions.next_hour(rows)) == sorted(STATIONS)
    assert served.served_version(CUTOFF, s) == earlier


def test_a_serving_model_swapped_on_the_bucket_is_skipped_and_the_dag_alerts(
    airflow_db, feature_store_env, tmp_path
) -> None:
    """After the hour's model served, its file is replaced by one that runs code, with a matching checksum in
    the metadata: the rerun runs nothing from it, predicts with the verified model before it, and the
    report_unverifiable task alerts ``model_unverifiable`` (with the DAG, the task and what to do) and fails:
    red, once, while publish and the predictions stay green."""
    from airflow.dag_processing.dagbag import DagBag

    s = feature_store_env
    earlier = registry.version_for(CUTOFF - timedelta(hours=1))
    planting.commit_model(s, earlier, planting.fitted_model())  # a verified promoted model before the hour
    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_train_predict")
    assert dag.test(logical_date=CUTOFF).state == "success"
    version = registry.version_for(CUTOFF)
    assert {r["model_version"] for r in predictions.read(version, CUTOFF, s)} == {version}

    marker = tmp_path / "code-ran"
    _, data = planting.payloads(marker)["skops calling os.system"]
    bucket.write_bytes(paths.model_skops(s.system_root, version), data, "application/octet-stream", s)
    metadata = {**registry.read_metadata(version, s), registry.MODEL_SHA256: registry.sha256(data)}
    bucket.write_bytes(
        paths.model_metadata(s.system_root, version), json.dumps(metadata).encode(), "application/json", s
    )

    rerun = dag.test(logical_date=CUTOFF)
    assert rerun.state == "failed"  # report_unverifiable, a leaf, is red; everything else did its work
    states = {ti.task_id: ti.state for ti in rerun.get_task_instances()}
    assert states.pop("per_system.report_unverifiable") == "failed"
    assert set(states.values()) == {"success"}, states
    assert not marker.exists()
    fallback = predictions.read_backfill(CUTOFF, s)  # the hour was served: the rerun is a backfill beside it
    assert sorted(r["station_id"] for r in predictions.next_hour(fallback)) == sorted(STATIONS)
    assert {r["model_version"] for r in fallback} == {earlier}
    assert served.rows_for_hour(CUTOFF, s) == len(STATIONS)  # what was served stays as served
    assert set(served.rates_for_run(CUTOFF, s)["model_version"]) == {version}  # every horizon of the run
    [alert] = alerts.read_log(s)  # one alert, its own kind: no task_failed for the same thing
    assert alert["kind"] == "model_unverifiable"
    assert (alert["dag_id"], alert["task_id"]) == ("bikeshare_train_predict", "per_system.report_unverifiable")
    assert alert["system_id"] == "citibike-jc"  # the alert names the system whose task failed
    assert alert["details"]["version"] == version
    assert alert["details"]["serving_version"] == earlier
    assert f"use {earlier}" in alert["summary"]
    assert "To do: delete gs://" in alert["summary"]


def test_a_wall_clock_hour_after_the_local_data_is_skipped_without_an_alert(airflow_db, feature_store_env) -> None:
    """Unpaused on the local profile, the DAG runs wall-clock hours (2026) of a replayed 2019 feature store: the
    run is skipped at its first task with the reason, nothing waits, trains, writes or alerts."""
    from airflow.dag_processing.dagbag import DagBag

    s = feature_store_env
    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_train_predict")
    run = dag.test(logical_date=datetime(2026, 12, 7, 9, tzinfo=UTC))
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == dict.fromkeys(states, "skipped")
    assert "within_data" in states
    assert bucket.list_paths(f"{s.env}/", s) == []
    assert alerts.read_log(s) == []
