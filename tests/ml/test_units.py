"""Unit tests of the ML package's pure parts: baselines, metrics, gate, model, Avro."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import fastavro
import numpy as np
import pandas as pd
import pytest
from scipy.stats import skellam

from include.ml import baselines, evaluate, predictions
from include.ml import model as model_module
from include.ml.model import StationFlowModel, skellam_median
from tests.ml.conftest import make_features, make_labels

HOUR0 = datetime(2019, 9, 1, 8, tzinfo=UTC)


def test_baselines_use_only_earlier_hours() -> None:
    labels = make_labels(5 * 168, "weekly")
    train = labels[labels["hour_start"] < labels["hour_start"].max() - pd.Timedelta(days=7)]
    valid = labels[labels["hour_start"] >= labels["hour_start"].max() - pd.Timedelta(days=7) + pd.Timedelta(hours=1)]
    preds = baselines.baseline_predictions(labels, train, valid)
    actual = valid["net_change"].to_numpy()
    assert set(preds) == set(baselines.BASELINES)
    assert np.array_equal(preds["same_hour_last_week"], actual)  # exactly weekly data: last week is the truth
    assert np.array_equal(preds["mean_last_4_same_weekday_hours"], actual)
    assert np.allclose(preds["historical_mean_station_weekday_hour"], actual)
    assert not preds["zero"].any()


def test_weekly_baselines_follow_new_york_time_across_dst() -> None:
    # DST ended 2019-11-03: 12:00 EST on 11-05 is 17:00 UTC, 12:00 EDT a week earlier was 16:00 UTC
    target = pd.Timestamp("2019-11-05 17:00", tz="UTC")
    history = pd.DataFrame(
        {
            "station_id": "A",
            "hour_start": pd.to_datetime(["2019-10-29 16:00", "2019-10-29 17:00"], utc=True),
            "net_change": [3, -7],  # the same local hour, then the same UTC hour
        }
    )
    valid = pd.DataFrame({"station_id": ["A"], "hour_start": [target], "net_change": [3]})
    preds = baselines.baseline_predictions(history, history.iloc[:0], valid)
    assert preds["same_hour_last_week"][0] == 3
    assert preds["mean_last_4_same_weekday_hours"][0] == 3  # one week of history seen: its mean
    spring = baselines.same_local_hour_before(pd.Series(pd.to_datetime(["2019-03-12 16:00"], utc=True)), 7)
    assert spring[0] == pd.Timestamp("2019-03-05 17:00", tz="UTC")  # 12:00 EST, a week before 12:00 EDT


def test_baselines_without_history_fall_back_to_zero() -> None:
    labels = make_labels(48, "lagged")
    preds = baselines.baseline_predictions(labels.iloc[:0], labels.iloc[:0], labels)
    assert all(not p.any() for p in preds.values())


def test_gate_promotes_only_a_model_that_beats_every_baseline() -> None:
    metrics = {"zero": {"mae": 1.2}, "same_hour_last_week": {"mae": 1.0}, "model": {"mae": 0.9}}
    assert evaluate.gate(metrics).promoted
    worse = {**metrics, "model": {"mae": 1.1}}
    decision = evaluate.gate(worse)
    assert not decision.promoted
    assert "same_hour_last_week" in decision.reason
    assert not evaluate.gate({**metrics, "model": {"mae": 1.0}}).promoted  # a tie is not better
    assert not evaluate.gate({**metrics, "model": {"mae": float("nan")}}).promoted


def test_precision_at_k_counts_big_moves_in_the_top_k() -> None:
    hours = pd.Series([HOUR0] * 4 + [HOUR0.replace(hour=9)] * 4)
    actual = np.array([5, 0, -4, 1, 0, 0, 0, 0])  # second hour has no big move: left out
    score = np.array([3, 2, 1, 0, 9, 9, 9, 9])
    assert evaluate.precision_at_k(hours, actual, score, k=2) == pytest.approx(0.5)
    assert evaluate.precision_at_k(hours, actual, np.abs(actual), k=2) == pytest.approx(1.0)
    assert evaluate.mae_rmse(np.array([0, 2]), np.array([1, 0])) == {"mae": 1.5, "rmse": pytest.approx(np.sqrt(2.5))}


def test_skellam_median_matches_scipy() -> None:
    mu_d = np.array([0.1, 2.0, 7.5, 40.0, 3.0])
    mu_p = np.array([0.3, 2.0, 1.0, 5.0, 30.0])
    expected = [skellam.median(d, p) for d, p in zip(mu_d, mu_p, strict=True)]
    assert skellam_median(mu_d, mu_p).tolist() == expected


@pytest.mark.parametrize("net_forecast", ["direct", "mean_diff", "skellam_median"])
def test_model_learns_a_lagged_signal_and_handles_unknown_stations(net_forecast: str) -> None:
    labels = make_labels(3 * 168, "lagged")
    features = make_features(labels, labels["hour_start"].max())
    frame = features.merge(
        labels, left_on=["system_id", "station_id", "as_of"], right_on=["system_id", "station_id", "hour_start"]
    )
    cols = [c for c in features.columns if c not in ("system_id", "station_id", "as_of")]
    cut = frame["hour_start"].max() - pd.Timedelta(days=7)
    train, valid = frame[frame["hour_start"] < cut], frame[frame["hour_start"] >= cut]
    model = StationFlowModel(cols, net_forecast, {"max_iter": 60, "random_state": 0}).fit(train)
    out = model.predict(valid)
    assert list(out.columns) == ["pickups", "dropoffs", "net_change", "net_change_mean"]
    if net_forecast != "direct":  # the mean column is the difference of the two count means
        assert np.allclose(out["net_change_mean"], out["dropoffs"] - out["pickups"])
    assert (out["pickups"] >= 0).all()
    assert (out["dropoffs"] >= 0).all()
    zero_mae = np.abs(valid["net_change"]).mean()
    assert (
        np.abs(out["net_change"] - valid["net_change"]).mean() < 0.9 * zero_mae
    )  # the best possible is ~0.7: pickups of the hour are noise
    assert model.point_forecasts["predicted_net_change"] == ("median" if net_forecast == "skellam_median" else "mean")
    assert model.point_forecasts["predicted_net_change_mean"] == "mean"
    unknown = model.predict(valid.head(3).assign(station_id="new-station").drop(columns=cols[:2]))
    assert np.isfinite(unknown.to_numpy()).all()


def _lagged_frame(weeks: int = 3) -> tuple[pd.DataFrame, list[str]]:
    labels = make_labels(weeks * 168, "lagged")
    features = make_features(labels, labels["hour_start"].max())
    frame = features.merge(
        labels, left_on=["system_id", "station_id", "as_of"], right_on=["system_id", "station_id", "hour_start"]
    )
    return frame, [c for c in features.columns if c not in ("system_id", "station_id", "as_of")]


def test_later_horizons_leave_the_next_hour_exactly_as_it_was_and_come_ordered() -> None:
    frame, cols = _lagged_frame()
    cut = frame["hour_start"].max() - pd.Timedelta(days=7)
    train, valid = frame[frame["hour_start"] < cut], frame[frame["hour_start"] >= cut]
    params = {"max_iter": 40, "random_state": 0}
    model = StationFlowModel(cols, "skellam_median", params, mean_forecast="direct").fit(train)
    alone = StationFlowModel(cols, "skellam_median", params, mean_forecast="direct", horizons=1).fit(train)
    assert set(model.pipelines) - set(alone.pipelines) == {"pickups_h2", "dropoffs_h2", "pickups_h3", "dropoffs_h3"}
    out = model.predict_horizons(valid, frame)
    assert list(out.columns) == ["horizon", "pickups", "dropoffs", "net_change", "net_change_mean"]
    assert out["horizon"].tolist() == [1] * len(valid) + [2] * len(valid) + [3] * len(valid)
    pd.testing.assert_frame_equal(out[out["horizon"] == 1].drop(columns="horizon"), alone.predict(valid))
    later = out[out["horizon"] > 1]
    assert (later[["pickups", "dropoffs"]] > 0).all().all()
    assert np.allclose(later["net_change"], later["dropoffs"] - later["pickups"])  # the difference of the means
    assert np.allclose(later["net_change_mean"], later["net_change"])
    # in the lagged pattern a station's dropoffs are its pickups of the hour before: for horizon 2 that is the
    # unknown hour T, so the model does worse than at horizon 1 but still beats the weekly mean of the hour
    truth = model_module.horizon_labels(valid, 2, model_module.counts_by_hour(frame))
    known = truth["dropoffs"].notna().to_numpy()
    h2 = out[out["horizon"] == 2]
    mae = np.abs(h2.loc[known, "dropoffs"] - truth.loc[known, "dropoffs"]).mean()
    naive = model_module.target_history(valid, model_module.counts_by_hour(frame), 2)["target_dropoffs_4w"]
    assert mae < np.abs(naive[known] - truth.loc[known, "dropoffs"]).mean()
    with pytest.raises(ValueError, match="label history"):
        model.predict_horizons(valid)


def test_target_history_reads_only_hours_before_the_cutoff_in_new_york_time() -> None:
    """Horizon 3 of T = 2019-11-05 16:00 UTC is 13:00 EST; a day back is 13:00 EST on 11-04 and a week back
    13:00 EDT on 10-29 (17:00 UTC, not 18:00): all before T."""
    t = pd.Timestamp("2019-11-05 16:00", tz="UTC")
    hours = pd.to_datetime(["2019-11-04 18:00", "2019-10-29 17:00", "2019-10-29 18:00", "2019-11-05 18:00"], utc=True)
    history = pd.DataFrame({"station_id": "A", "hour_start": hours, "pickups": [5, 7, 99, 1000], "dropoffs": 0})
    frame = pd.DataFrame({"station_id": ["A"], "as_of": [t]})
    got = model_module.target_history(frame, model_module.counts_by_hour(history), 3).iloc[0]
    assert (got["target_pickups_lag24h"], got["target_pickups_lag168h"], got["target_pickups_4w"]) == (5, 7, 7)
    calendar = model_module.target_calendar(frame, 3).iloc[0]
    assert (calendar["target_hour_of_day"], calendar["target_day_of_week"]) == (13, 3)  # Tuesday: 1 = Sunday


def test_avro_round_trip_with_the_checked_in_schema() -> None:
    generated = datetime(2019, 9, 1, 9, 0, 1, 123000, tzinfo=UTC)
    recs = predictions.records(
        ["3186", "3203"], [1.5, -2.0], [3.0, 4.0], [4.5, 2.0], HOUR0, "20190901T0700Z", generated, [1.25, -1.75]
    )
    recs += predictions.records(
        ["3186"], [0.5], [2.0], [2.5], HOUR0 + timedelta(hours=1), "20190901T0700Z", generated, [0.5], 2
    )
    back = predictions.from_avro(predictions.to_avro(recs))
    assert back == recs
    assert predictions.next_hour(back) == recs[:2]
    assert {f["name"] for f in predictions.schema()["fields"]} == {
        "station_id",
        "target_hour",
        "predicted_net_change",
        "predicted_pickups",
        "predicted_dropoffs",
        "model_version",
        "generated_at",
        "predicted_net_change_mean",
        "horizon",
        "system_id",
    }
    with pytest.raises(Exception, match="predicted_net_change"):
        predictions.to_avro([{**recs[0], "predicted_net_change": None}])


def test_a_file_written_before_systems_reads_as_jersey_citys() -> None:
    """Avro files written with the schema before issue 24 (no system_id) stay readable: the field's default."""
    import io

    import fastavro

    old_schema = predictions.schema()
    old_schema = {**old_schema, "fields": [f for f in old_schema["fields"] if f["name"] != "system_id"]}
    generated = datetime(2019, 9, 1, 9, 0, 1, 123000, tzinfo=UTC)
    recs = predictions.records(["3186"], [1.5], [3.0], [4.5], HOUR0, "20190901T0700Z", generated, [1.25])
    buf = io.BytesIO()
    fastavro.writer(buf, old_schema, [{k: v for k, v in r.items() if k != "system_id"} for r in recs])
    (back,) = predictions.from_avro(buf.getvalue())
    assert back == {**recs[0], "system_id": "citibike-jc"}
    phx = predictions.records(["3186"], [1.5], [3.0], [4.5], HOUR0, "v", generated, [1.25], system_id="phx")
    assert predictions.from_avro(predictions.to_avro(phx))[0]["system_id"] == "phx"


@pytest.mark.parametrize("added", [("horizon",), ("horizon", "predicted_net_change_mean")])
def test_files_written_with_an_earlier_schema_read_with_the_defaults(added: tuple[str, ...]) -> None:
    """A file from before the horizons (or before the mean column too), written with that schema: every record
    reads as horizon 1 (and a null mean), the next hour it was."""
    raw = json.loads(predictions.SCHEMA_PATH.read_text())
    old_schema = fastavro.parse_schema({**raw, "fields": [f for f in raw["fields"] if f["name"] not in added]})
    [rec] = predictions.records(["3186"], [1.5], [3.0], [4.5], HOUR0, "20190901T0700Z", HOUR0, [1.25])
    buf = io.BytesIO()
    fastavro.writer(buf, old_schema, [{k: v for k, v in rec.items() if k not in added}])
    [old] = predictions.from_avro(buf.getvalue())
    assert old == {**rec, "horizon": 1, **({"predicted_net_change_mean": None} if len(added) > 1 else {})}
    assert predictions.next_hour([old]) == [old]


def test_step_results_cross_xcom_typed_and_strictly() -> None:
    from include.ml.hourly import Evaluation, Publication

    evaluation = Evaluation(version="v", reused=False, promoted=True, gate="ok", metrics={"model": {"mae": 1.0}})
    assert Evaluation.from_xcom(evaluation.to_xcom()) == evaluation
    published = Publication(version="v", promoted=True, serving_version="v")
    assert Publication.from_xcom(published.to_xcom()) == published
    with pytest.raises(ValueError, match="expected keys"):
        Publication.from_xcom({"version": "v", "promoted": True})  # no default read back for a missing key
    with pytest.raises(ValueError, match="expected keys"):
        Publication.from_xcom({**published.to_xcom(), "extra": 1})


def test_write_predictions_takes_the_hour_and_version_from_the_run() -> None:
    from datetime import UTC, datetime

    from include.ml import hourly

    hour = datetime(2019, 9, 30, 4, tzinfo=UTC)
    row = {"station_id": "a", "target_hour": hour.isoformat(), "model_version": "v1", "predicted_net_change": 0.0}
    with pytest.raises(ValueError, match="not of 2019-09-30T04:00:00"):
        hourly.write_predictions(hour, "v2", [row])  # rows of another version
    with pytest.raises(ValueError, match="not of 2019-09-30T05:00:00"):
        hourly.write_predictions(datetime(2019, 9, 30, 5, tzinfo=UTC), "v1", [row])  # of another hour
    assert hourly.write_predictions(hour, "v1", []) is None  # nothing served: no file
