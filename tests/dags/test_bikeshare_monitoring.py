"""bikeshare_monitoring, run for real with dag.test() on the local stack: a real model serves 25 hours of
a synthetic feature store, then the run scores it against naive (dbt), measures drift and alerts."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from include.gcp import clients
from include.gcp.settings import Settings, get_settings
from include.gcp.tables import FEATURE_DRIFT, MODEL_PERFORMANCE
from include.ml import hourly as ml_hourly
from include.monitoring import alerts
from include.monitoring import hourly as monitoring
from tests.conftest import DAGS_FOLDER, drop_resources
from tests.ml.conftest import START, STATIONS, load_feature_store, make_features, make_labels

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

WEEKS = 3
CUTOFF = START + timedelta(hours=WEEKS * 168)
SERVED = [CUTOFF - timedelta(hours=h) for h in range(24, -1, -1)]  # 24 scoreable hours, then CUTOFF itself


def frame(s: Settings, table: str) -> pd.DataFrame:
    sql = f"SELECT * FROM `{s.table_id(table)}`"
    return clients.bigquery_client(s).query(sql).result().to_dataframe(create_bqstorage_client=False)


@pytest.fixture
def served_env(monkeypatch: pytest.MonkeyPatch, local_stack: Settings, tmp_path: Path):
    """A promoted model (trained at the first served hour) and its forecasts for SERVED, as the training
    DAG writes them; alerts go to a file of this test."""
    tag = uuid.uuid4().hex[:8]
    monkeypatch.setenv("BIKESHARE_BQ_DATASET", f"dagtest_mon_{tag}")
    monkeypatch.setenv("BIKESHARE_GCS_BUCKET", f"dagtest-mon-{tag}")
    monkeypatch.setenv("BIKESHARE_ALERT_LOG", str(tmp_path / "alerts.jsonl"))
    get_settings.cache_clear()
    s = get_settings()
    clients.bigquery_client(s).create_dataset(s.dataset, exists_ok=True)
    clients.storage_client(s).create_bucket(s.bucket)
    labels = make_labels(WEEKS * 168, "lagged")
    load_feature_store(s, labels, make_features(labels, CUTOFF))
    evaluation = ml_hourly.train_and_evaluate(SERVED[0])
    published = ml_hourly.publish(SERVED[0], evaluation)
    assert published.promoted, evaluation.gate
    for hour in SERVED:
        ml_hourly.write_predictions(hour, published.serving_version, ml_hourly.predict(hour, published.serving_version))
    yield s
    get_settings.cache_clear()
    drop_resources(s)


def test_monitoring_scores_the_served_model_records_drift_and_alerts_when_late(airflow_db, served_env) -> None:
    from airflow.dag_processing.dagbag import DagBag

    s = served_env
    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_monitoring")
    assert dag.test(logical_date=CUTOFF + timedelta(minutes=15)).state == "success"

    perf = frame(s, MODEL_PERFORMANCE)
    perf["window_end"] = pd.to_datetime(perf["window_end"], utc=True)
    newest = perf[perf["window_end"] == pd.Timestamp(CUTOFF)]
    assert set(newest["predictor"]) == {
        "model",
        "zero",
        "same_hour_last_week",
        "historical_mean_station_weekday_hour",
        "mean_last_4_same_weekday_hours",
    }
    day = newest[newest["window_name"] == "24h"].set_index("predictor")
    assert set(day["scored_hours"]) == {24}
    assert set(day["station_hours"]) == {24 * len(STATIONS)}
    # the gate promoted the model on its validation days; on these 24 served hours it beats zero too
    assert day.loc["model", "mae"] < day.loc["zero", "mae"]

    drift = frame(s, FEATURE_DRIFT)
    assert len(drift) == len(set(drift["feature"])) > 5  # one PSI per profiled feature, for this hour only
    assert (drift["psi"] >= 0).all()

    assert "predictions_late" not in [a["kind"] for a in alerts.read_log()]  # the run's hour was served
    late = monitoring.predictions_fresh(CUTOFF + timedelta(hours=1))  # nothing served for the next hour
    assert late == {"hour": (CUTOFF + timedelta(hours=1)).isoformat(), "rows": 0, "fresh": False}
    last = alerts.read_log()[-1]
    assert (last["kind"], last["details"]["hour"]) == ("predictions_late", (CUTOFF + timedelta(hours=1)).isoformat())
