"""bikeshare_monitoring, run for real with dag.test() on the local stack: a real model serves 25 hours of
a synthetic feature store, then the run scores it against naive (dbt), measures drift, checks the plan hour
before it for missed stockouts and alerts."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from include.gcp import clients
from include.gcp.settings import Settings
from include.gcp.tables import FEATURE_DRIFT, MODEL_PERFORMANCE
from include.ml import hourly as ml_hourly
from include.monitoring import alerts
from include.monitoring import hourly as monitoring
from tests.conftest import DAGS_FOLDER
from tests.dags.conftest import CUTOFF
from tests.ml.conftest import STATIONS
from tests.monitoring.plan_world import risk_row, status_row, write_plan, write_status

pytestmark = [pytest.mark.integration, pytest.mark.airflow]

SERVED = [CUTOFF - timedelta(hours=h) for h in range(24, -1, -1)]  # 24 scoreable hours, then CUTOFF itself


def frame(s: Settings, table: str) -> pd.DataFrame:
    sql = f"SELECT * FROM `{s.table_id(table)}`"
    return clients.bigquery_client(s).query(sql).result().to_dataframe(create_bqstorage_client=False)


@pytest.fixture
def served_env(feature_store_env: Settings) -> Settings:
    """A promoted model (trained at the first served hour) and its forecasts for SERVED, as the training
    DAG writes them."""
    evaluation = ml_hourly.train_and_evaluate(SERVED[0])
    published = ml_hourly.publish(SERVED[0], evaluation)
    assert published.promoted, evaluation.gate
    for hour in SERVED:
        ml_hourly.write_predictions(hour, published.serving_version, ml_hourly.predict(hour, published.serving_version))
    return feature_store_env


def test_monitoring_scores_the_served_model_records_drift_and_alerts_when_late(
    airflow_db, served_env, systems_table
) -> None:
    """Two systems: Jersey City's served model is scored and its missed stockout alerts; phx, which served
    nothing, alerts ``predictions_late`` in its own map index only."""
    from airflow.dag_processing.dagbag import DagBag

    s = served_env
    systems_table("citibike-jc", "phx")
    plan_hour = CUTOFF - timedelta(hours=1)  # the run at CUTOFF:15 checks it
    write_plan(s, plan_hour, [risk_row(plan_hour, "dagE35", 0.02, 0.0), risk_row(plan_hour, "dagOK", 0.02, 0.0)], [])
    minutes = (timedelta(minutes=m) for m in (-30, 10, 45, 70))
    write_status(s, [status_row("dagE35", plan_hour + m, b) for m, b in zip(minutes, (2, 0, 3, 3), strict=True)], "dag")
    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_monitoring")
    run = dag.test(logical_date=CUTOFF + timedelta(minutes=15))
    assert run.state == "failed"  # the stockout check alerted: its task is red, not green
    tis = run.get_task_instances()
    assert {ti.task_id: (ti.state, ti.try_number) for ti in tis if ti.map_index < 0} == {
        "within_data": ("success", 1),  # the hour is inside the data (include/gcp/data_span.py)
        "systems": ("success", 1),
        "wait_for_outcomes": ("success", 1),
        "build_model_scores": ("success", 1),  # one dbt build for every system
    }
    # each check is each system's own map index, named by it; a failure (first try, not retried) is its own
    assert {(ti.task_id, ti.rendered_map_index): (ti.state, ti.try_number) for ti in tis if ti.map_index >= 0} == {
        ("predictions_fresh", "citibike-jc"): ("success", 1),
        ("predictions_fresh", "phx"): ("failed", 1),  # phx served nothing
        ("score_served_model", "citibike-jc"): ("success", 1),
        ("score_served_model", "phx"): ("success", 1),  # no scored hours: nothing to judge
        ("feature_drift", "citibike-jc"): ("success", 1),
        ("feature_drift", "phx"): ("success", 1),  # no promoted model: not measured
        ("unflagged_stockouts", "citibike-jc"): ("failed", 1),
        ("unflagged_stockouts", "phx"): ("success", 1),  # no status of phx: skipped with the reason
    }

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

    # one alert per failed check, of its kind (no task_failed for the same failure), naming its system
    by_system = {line["system_id"]: line for line in alerts.read_log()}
    assert (by_system["phx"]["kind"], by_system["phx"]["task_id"]) == ("predictions_late", "predictions_fresh")
    missed = by_system["citibike-jc"]  # empty 35 min, no flag
    assert len(alerts.read_log()) == 2
    assert missed["kind"] == "unflagged_stockout"
    assert [st["station_id"] for st in missed["details"]["stations"]] == ["dagE35"]
    assert (missed["task_id"], missed["system_id"]) == ("unflagged_stockouts", "citibike-jc")
    with pytest.raises(alerts.AlertRaised) as raised:  # nothing served for the next hour: alert, and fail
        monitoring.predictions_fresh(CUTOFF + timedelta(hours=1))
    late = raised.value.result
    assert late == {"hour": (CUTOFF + timedelta(hours=1)).isoformat(), "rows": 0, "fresh": False}
    last = alerts.read_log()[-1]
    assert (last["kind"], last["details"]["hour"]) == ("predictions_late", (CUTOFF + timedelta(hours=1)).isoformat())


def test_a_wall_clock_hour_after_the_local_data_is_skipped_without_an_alert(airflow_db, feature_store_env) -> None:
    """Unpaused on the local profile, monitoring runs wall-clock hours (2026) with no forecasts and no outcomes:
    skipped at its first task with the reason, no ``predictions_late``, no sensor waiting 2 h."""
    from datetime import UTC, datetime

    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_monitoring")
    run = dag.test(logical_date=datetime(2026, 12, 7, 9, 15, tzinfo=UTC))
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == dict.fromkeys(states, "skipped")
    assert "within_data" in states
    assert alerts.read_log(feature_store_env) == []
