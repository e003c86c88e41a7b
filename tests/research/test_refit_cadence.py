"""Which fit serves which hour under each refit cadence (research/refit_cadence.py), and its paired bootstrap."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from research.refit_cadence import fit_cutoff, fit_plan, paired_bootstrap, sample_days, scored_hours


def _ny(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="America/New_York").tz_convert("UTC")


def test_hourly_cadence_serves_each_hour_with_its_own_fit() -> None:
    hour = _ny("2019-07-10 17:00")
    assert fit_cutoff(hour, "hourly") == hour


@pytest.mark.parametrize(
    ("hour", "fitted"),
    [
        ("2019-07-10 17:00", "2019-07-10 03:00"),
        ("2019-07-10 03:00", "2019-07-09 03:00"),  # the refit hour: its fit runs beside it, serves from 04:00
        ("2019-07-10 04:00", "2019-07-10 03:00"),
        ("2019-07-10 02:00", "2019-07-09 03:00"),  # before 03:00: yesterday's fit
        ("2019-07-10 00:00", "2019-07-09 03:00"),
        ("2019-03-10 12:00", "2019-03-10 03:00"),  # the spring-forward day: 03:00 EDT is 07:00 UTC
        ("2019-11-03 23:00", "2019-11-03 03:00"),  # the fall-back day: 03:00 EST is 08:00 UTC
    ],
)
def test_daily_cadence_serves_with_the_last_local_03_00_fit(hour: str, fitted: str) -> None:
    assert fit_cutoff(_ny(hour), "daily") == _ny(fitted)


def test_daily_fit_is_at_03_00_new_york_time_in_utc() -> None:
    assert fit_cutoff(_ny("2019-03-10 12:00"), "daily") == pd.Timestamp("2019-03-10 07:00", tz="UTC")
    assert fit_cutoff(_ny("2019-01-10 12:00"), "daily") == pd.Timestamp("2019-01-10 08:00", tz="UTC")


@pytest.mark.parametrize(
    ("hour", "fitted"),
    [
        ("2019-07-10 17:00", "2019-07-08 03:00"),  # a Wednesday: that week's Monday
        ("2019-07-14 23:00", "2019-07-08 03:00"),  # Sunday night: still the same Monday's
        ("2019-07-15 09:00", "2019-07-15 03:00"),  # Monday after the refit
        ("2019-07-15 01:00", "2019-07-08 03:00"),  # Monday before it: the previous Monday's
    ],
)
def test_weekly_cadence_serves_with_the_last_monday_03_00_fit(hour: str, fitted: str) -> None:
    assert fit_cutoff(_ny(hour), "weekly") == _ny(fitted)


def test_sample_days_spread_over_the_span_on_varied_weekdays() -> None:
    days = sample_days(pd.Timestamp("2019-07-01"), pd.Timestamp("2019-09-30"), 14)
    assert pd.Timestamp("2019-07-01") <= days[0] < days[-1] <= pd.Timestamp("2019-09-30")
    assert len(days) == 14
    assert days == sorted(days)
    assert len({d.day_of_week for d in days}) == 7


def test_scored_hours_are_local_wall_clock_hours() -> None:
    hours = scored_hours([pd.Timestamp("2019-07-01"), pd.Timestamp("2019-12-02")], [7, 22])
    assert hours == [
        pd.Timestamp("2019-07-01 11:00", tz="UTC"),
        pd.Timestamp("2019-07-02 02:00", tz="UTC"),
        pd.Timestamp("2019-12-02 12:00", tz="UTC"),
        pd.Timestamp("2019-12-03 03:00", tz="UTC"),
    ]


def test_fit_plan_fits_a_shared_cut_off_once() -> None:
    # Monday 2019-07-08: its 03:00 fit is both the daily and the weekly one of the hours after it
    hours = [_ny("2019-07-08 04:00"), _ny("2019-07-08 09:00"), _ny("2019-07-10 09:00")]
    plan = fit_plan(hours, ("hourly", "daily", "weekly"))
    assert list(plan) == [_ny("2019-07-08 03:00"), *hours[:2], _ny("2019-07-10 03:00"), hours[2]]
    assert plan[_ny("2019-07-08 03:00")] == hours  # serves every hour under the weekly cadence
    assert plan[_ny("2019-07-10 03:00")] == [hours[2]]


def test_paired_bootstrap_is_exact_on_its_point_and_brackets_it() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(-3, 4, 600).astype(float)
    frame = pd.DataFrame(
        {
            "day": np.repeat(np.arange(20), 30),
            "net_change": y,
            "hourly": y + rng.normal(0, 1, 600),
            "hourly_mean": y + rng.normal(0, 1, 600),
            "daily": y + rng.normal(0, 1.2, 600),
            "daily_mean": y + rng.normal(0, 1.2, 600),
        }
    )
    boot = paired_bootstrap(frame, "daily", n=500)
    mae = np.mean(np.abs(y - frame["daily"])) / np.mean(np.abs(y - frame["hourly"])) - 1
    assert boot["mae"][0] == pytest.approx(mae)
    for point, low, high in boot.values():
        assert low < point < high
    same = paired_bootstrap(frame.assign(daily=frame["hourly"], daily_mean=frame["hourly_mean"]), "daily", n=100)
    assert same["mae"] == pytest.approx((0.0, 0.0, 0.0))
    assert same["rmse"] == pytest.approx((0.0, 0.0, 0.0))
