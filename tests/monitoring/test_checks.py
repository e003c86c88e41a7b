"""The decisions of live monitoring, without the stack: when the served model has lost to naive, when a
station's error exploded, and what the population stability index says about a shifted feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from include.ml import drift
from include.monitoring.performance import Limits, check


def scores(model_mae: float, best_mae: float, hours: int = 168) -> dict:
    def row(mae: float) -> dict:
        return {"mae": mae, "rmse": mae * 1.3, "precision_at_10": 0.5, "scored_hours": hours, "window_end": "T"}

    return {"7d": {"model": row(model_mae), "zero": row(best_mae + 0.5), "same_hour_last_week": row(best_mae)}}


def test_a_model_that_beats_every_baseline_raises_nothing() -> None:
    assert check(scores(0.9, 1.0), []) == []


def test_a_model_that_does_not_beat_the_best_baseline_alerts_and_names_it() -> None:
    (alert,) = check(scores(1.0, 1.0), [])  # a tie is a loss, as at the training gate
    assert alert.kind == "model_worse_than_naive"
    assert alert.details["best_baseline"] == "same_hour_last_week"


def test_too_few_scored_hours_give_no_verdict() -> None:
    assert check(scores(2.0, 1.0, hours=71), []) == []
    assert [a.kind for a in check(scores(2.0, 1.0, hours=72), [])] == ["model_worse_than_naive"]


def test_a_station_whose_error_exploded_is_named() -> None:
    stations = [{"station_id": "a", "mae": 0.8}, {"station_id": "b", "mae": 2.9}, {"station_id": "c", "mae": 3.1}]
    (alert,) = check(scores(1.0, 1.2), stations)  # limit: max(3 x 1.0, 2.0) = 3.0
    assert alert.kind == "station_error"
    assert alert.details["stations"] == {"c": 3.1}
    assert check(scores(0.5, 1.2), [{"station_id": "d", "mae": 1.9}], Limits(station_floor=2.0)) == []


def test_no_scores_no_alerts() -> None:
    assert check({}, [{"station_id": "a", "mae": 99.0}]) == []


def test_psi_is_near_zero_for_the_same_distribution_and_large_for_a_shift() -> None:
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"x": rng.normal(0, 1, 20_000), "flag": rng.integers(0, 2, 20_000).astype(float)})
    prof = drift.profile(train, ["x", "flag"])
    assert len(prof["x"]["shares"]) == len(prof["x"]["edges"]) + 1 == drift.BINS
    assert sum(prof["x"]["shares"]) == pytest.approx(1.0)
    assert drift.psi(prof["x"], rng.normal(0, 1, 5_000)) < 0.02
    assert drift.psi(prof["x"], rng.normal(1, 1, 5_000)) > drift.ALERT_PSI
    # a binary feature has one distinct inner edge: two bins, still a valid comparison
    assert drift.psi(prof["flag"], np.ones(1_000)) > drift.ALERT_PSI
    report = drift.report(prof, pd.DataFrame({"x": rng.normal(3, 1, 1_000), "flag": np.zeros(1_000)}))
    assert list(report) == sorted(report, key=lambda k: -report[k])


def test_the_risks_rows_are_not_baselines() -> None:
    """model_performance's risk rows have a Brier score and no MAE: the checks read past them."""
    with_risk = scores(0.9, 1.0)
    with_risk["7d"]["risk_empty_1h"] = {"mae": None, "brier": 0.08, "scored_hours": 168, "window_end": "T"}
    assert check(with_risk, []) == []


def _weeks(levels: list[float], seed: int = 0) -> pd.DataFrame:
    """Hourly rows of one feature, week ``k`` drawn around ``levels[k]``: a season that grows or stays."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2019-01-07", tz="UTC")
    frames = [
        pd.DataFrame(
            {
                "as_of": start + pd.to_timedelta(np.arange(168 * 20) // 20 + 168 * k, unit="h"),
                "x": rng.poisson(level, 168 * 20).astype(float),
            }
        )
        for k, level in enumerate(levels)
    ]
    return pd.concat(frames, ignore_index=True)


def test_a_growing_season_raises_its_features_bar_and_a_steady_one_keeps_the_common_bar() -> None:
    steady = _weeks([5.0] * 12)
    growing = _weeks([10.0 + 0.5 * k for k in range(12)])
    bar_steady = drift.thresholds(drift.profile(steady, ["x"]), steady, ["x"])["x"]
    bar_growing = drift.thresholds(drift.profile(growing, ["x"]), growing, ["x"])["x"]
    assert bar_steady == drift.ALERT_PSI  # noise alone stays far below the common bar
    assert bar_growing > 2 * drift.ALERT_PSI


def test_the_calibrated_bar_keeps_a_normal_next_week_quiet_and_a_planted_shift_loud() -> None:
    train = _weeks([10.0 + 0.5 * k for k in range(12)])
    prof = drift.profile(train, ["x"])
    bars = drift.thresholds(prof, train, ["x"])
    next_week = _weeks([16.0], seed=1)  # the season goes on as it did
    assert drift.psi(prof["x"], next_week["x"].to_numpy()) > drift.ALERT_PSI  # the common bar would cry wolf
    assert drift.shifted(drift.report(prof, next_week), bars) == {}
    doubled = next_week.assign(x=next_week["x"] * 2)
    assert list(drift.shifted(drift.report(prof, doubled), bars)) == ["x"]
    stuck = next_week.assign(x=0.0)
    assert list(drift.shifted(drift.report(prof, stuck), bars)) == ["x"]


def test_a_model_without_bars_is_not_judged_on_psi_and_a_feature_without_a_bar_gets_the_common_one() -> None:
    assert drift.shifted({"a": 9.0}, None) == {}  # trained before the bars: the common bar cried wolf
    assert drift.shifted({"a": 0.3, "b": 0.2}, {"a": 0.5}) == {}
    assert drift.shifted({"a": 0.3, "b": 0.3}, {"a": 0.5}) == {"b": 0.3}


def test_a_stuck_feature_is_named_whatever_its_bar_and_calendar_features_never_alert() -> None:
    train = _weeks([10.0 + 0.5 * k for k in range(12)])
    prof = drift.profile(train.assign(hour_of_day=train.index % 24), ["x", "hour_of_day"])
    week = _weeks([16.0], seed=1)
    assert drift.stuck(prof, week.assign(hour_of_day=week.index % 24)) == []
    assert drift.stuck(prof, week.assign(x=0.0, hour_of_day=week.index % 24)) == ["x"]
    assert drift.stuck(prof, week.assign(x=np.nan, hour_of_day=week.index % 24)) == ["x"]  # all missing
    assert drift.stuck(prof, week.assign(hour_of_day=5)) == []  # the clock's own feature: not a data fault
    assert drift.shifted({"is_holiday": 9.0, "hour_of_day": 9.0, "x": 9.0}, {}) == {"x": 9.0}
