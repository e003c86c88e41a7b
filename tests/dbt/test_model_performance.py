"""model_performance on the emulator: served forecasts of real Citi Bike hours, scored by dbt, checked
against include/ml/evaluate.py's own metrics computed in Python from the same tables."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from include.dbt import cosmos_tasks
from include.dbt.runner import DbtResult
from include.gcp import clients
from include.gcp.settings import Settings
from include.ml import evaluate, predictions, served
from include.monitoring import performance

pytestmark = pytest.mark.integration

AS_OF = datetime(2019, 9, 4, 0, 0, tzinfo=UTC)
SERVED_HOURS = [AS_OF - timedelta(hours=h) for h in range(48, 0, -1)]  # Sep 2 00:00 .. Sep 3 23:00
BASELINE_COLUMNS = {
    "same_hour_last_week": "net_change_lag168h",
    "mean_last_4_same_weekday_hours": "same_weekday_hour_mean_net_change_4w",
    "historical_mean_station_weekday_hour": "same_weekday_hour_mean_net_change_26w",
}


def frame(settings: Settings, sql: str) -> pd.DataFrame:
    sql = sql.replace("{ds}", f"`{settings.project}.{settings.dataset}`")
    return clients.bigquery_client(settings).query(sql).result().to_dataframe(create_bqstorage_client=False)


def forecast(actual: pd.Series, station: pd.Series) -> np.ndarray:
    """A made-up served forecast, right in direction, off by a station-dependent amount."""
    return 0.6 * actual.to_numpy() + (station.str.len().to_numpy() % 3) - 1.0


@pytest.fixture(scope="module")
def scored(dbt: Callable[..., DbtResult], dbt_settings: Settings) -> pd.DataFrame:
    """Features and labels up to AS_OF, 48 served hours, then the monitoring build."""
    s = dbt_settings
    dbt("run", "--exclude", cosmos_tasks.MONITORING_SELECTOR, as_of=AS_OF)
    labels = frame(s, "select * from {ds}.station_hourly_labels")
    labels["hour_start"] = pd.to_datetime(labels["hour_start"], utc=True)
    for hour in SERVED_HOURS:  # each run: its next hour, and hours +2 and +3 far off (never scored)
        rows = labels[labels["hour_start"] == pd.Timestamp(hour)]
        net = forecast(rows["net_change"], rows["station_id"])
        stations, ones = rows["station_id"].tolist(), [1.0] * len(rows)
        recs = predictions.records(stations, net.tolist(), ones, ones, hour, "v1", net_mean=net)
        for k in (2, 3):
            later, far = hour + timedelta(hours=k - 1), [100.0] * len(rows)
            recs += predictions.records(stations, far, far, far, later, "v1", net_mean=far, horizon=k)
        served.load_run(recs, hour, s)
    dbt("build", "--select", cosmos_tasks.MONITORING_SELECTOR, as_of=AS_OF)
    return labels


def expected(settings: Settings, labels: pd.DataFrame, start: datetime, end: datetime) -> dict[str, dict]:
    """Each predictor's MAE / RMSE / precision@10 over [start, end), by include/ml/evaluate.py."""
    wide = frame(settings, "select * from {ds}.station_features_wide")
    wide["as_of"] = pd.to_datetime(wide["as_of"], utc=True)
    rows = labels[(labels["hour_start"] >= pd.Timestamp(start)) & (labels["hour_start"] < pd.Timestamp(end))]
    rows = rows.merge(wide, left_on=["station_id", "hour_start"], right_on=["station_id", "as_of"], how="left")
    rows = rows.sort_values(["hour_start", "station_id"]).reset_index(drop=True)
    actual = rows["net_change"].to_numpy()
    preds = {"model": forecast(rows["net_change"], rows["station_id"]), "zero": np.zeros(len(rows))}
    preds |= {name: rows[col].fillna(0).to_numpy(dtype=float) for name, col in BASELINE_COLUMNS.items()}
    out = {}
    for name, pred in preds.items():
        out[name] = evaluate.mae_rmse(actual, pred)
        out[name]["precision_at_10"] = evaluate.precision_at_k(rows["hour_start"], actual, np.abs(pred))
        out[name]["station_hours"] = len(rows)
    return out


def test_scores_equal_the_python_metrics(scored: pd.DataFrame, dbt_settings: Settings) -> None:
    s = dbt_settings
    perf = frame(s, "select * from {ds}.model_performance")
    perf["window_end"] = pd.to_datetime(perf["window_end"], utc=True)
    assert perf["window_end"].max() == pd.Timestamp(AS_OF)
    for window_name, hours in (("24h", 24), ("7d", 168)):
        want = expected(s, scored, max(AS_OF - timedelta(hours=hours), SERVED_HOURS[0]), AS_OF)
        got = perf[(perf["window_end"] == pd.Timestamp(AS_OF)) & (perf["window_name"] == window_name)]
        assert sorted(got["predictor"]) == sorted(want)
        for row in got.itertuples():
            w = want[row.predictor]
            assert row.station_hours == w["station_hours"], (window_name, row.predictor)
            assert row.mae == pytest.approx(w["mae"]), (window_name, row.predictor)
            assert row.rmse == pytest.approx(w["rmse"]), (window_name, row.predictor)
            assert row.precision_at_10 == pytest.approx(w["precision_at_10"], nan_ok=True), (window_name, row.predictor)
    seven_day = perf[(perf["window_end"] == pd.Timestamp(AS_OF)) & (perf["window_name"] == "7d")]
    assert set(seven_day["scored_hours"]) == {48}
    # horizons 2 and 3 are served (and their hours have outcomes) but monitoring scores the next hour only
    horizons = frame(s, "select horizon, count(*) as n from {ds}.station_predictions group by horizon")
    assert sorted(horizons["horizon"]) == [1, 2, 3]
    assert performance.station_errors_24h(AS_OF, s)
    assert max(e["mae"] for e in performance.station_errors_24h(AS_OF, s)) < 50


def test_a_backfill_of_a_served_hour_is_not_scored(
    scored: pd.DataFrame, dbt: Callable[..., DbtResult], dbt_settings: Settings
) -> None:
    """A training-DAG rerun or backfill of a served hour writes its forecasts beside the served ones
    (include/ml/served.py write_run): the monitoring build (with the unique forecast test on
    station_predictions) scores exactly what it scored before."""
    s = dbt_settings
    before = performance.latest_scores(AS_OF, s)
    hour = SERVED_HOURS[-1]
    rows = scored[scored["hour_start"] == pd.Timestamp(hour)]
    far_off = [50.0] * len(rows)
    recs = predictions.records(rows["station_id"].tolist(), far_off, [1.0] * len(rows), [1.0] * len(rows), hour, "v2")
    written = served.write_run(recs, hour, "v2", "backfill__test", s)
    assert (written.served, written.served_version) == (False, "v1")
    dbt("build", "--select", cosmos_tasks.MONITORING_SELECTOR, as_of=AS_OF)
    after = performance.latest_scores(AS_OF, s)
    for window, predictors in before.items():
        assert sorted(after[window]) == sorted(predictors)
        for name, row in predictors.items():
            for column in ("scored_hours", "station_hours", "mae", "rmse", "precision_at_10"):
                assert after[window][name][column] == pytest.approx(row[column], nan_ok=True), (window, name, column)
    backfill = frame(s, "select count(*) as n from {ds}.station_predictions_backfill")
    assert backfill["n"].tolist() == [len(rows)]


def test_a_rerun_of_an_hour_is_rescored_and_nothing_doubles(
    scored: pd.DataFrame, dbt: Callable[..., DbtResult], dbt_settings: Settings
) -> None:
    """An hour's served rows rewritten (served.load_run, the low-level load: e.g. restored from its Avro file of
    record) are rescored by the next monitoring build."""
    s = dbt_settings
    hour = SERVED_HOURS[-1]
    rows = scored[scored["hour_start"] == pd.Timestamp(hour)]
    far_off = [50.0] * len(rows)
    recs = predictions.records(rows["station_id"].tolist(), far_off, [1.0] * len(rows), [1.0] * len(rows), hour, "v2")
    served.load_run(recs, hour, s)  # the next hour only: its hours +2 and +3 are gone
    dbt("build", "--select", cosmos_tasks.MONITORING_SELECTOR, as_of=AS_OF)
    perf = frame(s, "select * from {ds}.model_performance")
    assert not perf.duplicated(["window_end", "window_name", "predictor"]).any()
    scores = performance.latest_scores(AS_OF, s)
    assert scores["24h"]["model"]["mae"] > 40 / 24  # the 50-bike hour is in the window now
    # the served model now loses to naive over the window, and every station's error exploded
    alerts = performance.check(scores, performance.station_errors_24h(AS_OF, s), performance.Limits(min_hours=24))
    assert [a.kind for a in alerts] == ["model_worse_than_naive", "station_error"]
