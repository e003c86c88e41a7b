"""Each system's local hours are on its own clock, DST included (issue 24 §2): New York and Los Angeles
change clocks on 2019-03-10 and 2019-11-03 at 02:00 local, Phoenix never does."""

from __future__ import annotations

import pandas as pd
import pytest

from include.ml import baselines
from include.ml.model import target_calendar

ZONES = ("America/New_York", "America/Los_Angeles", "America/Phoenix")


def _utc_of_local(day: str, hour: int, zone: str) -> pd.Timestamp:
    return pd.Timestamp(f"{day} {hour:02d}:00").tz_localize(zone).tz_convert("UTC")


@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("day", ["2019-03-09", "2019-03-10", "2019-03-11", "2019-03-17", "2019-11-03", "2019-11-04"])
def test_a_day_and_a_week_back_is_the_same_local_hour(zone: str, day: str) -> None:
    hour = pd.Series([_utc_of_local(day, 8, zone)])
    for days in (1, 7):
        back = baselines.same_local_hour_before(hour, days, zone)[0]
        expected = _utc_of_local(str((pd.Timestamp(day) - pd.Timedelta(days=days)).date()), 8, zone)
        assert back == expected
        assert back.tz_convert(zone).hour == 8


def test_across_the_spring_change_a_day_is_23_hours_except_in_phoenix() -> None:
    lags = {
        zone: hour - baselines.same_local_hour_before(pd.Series([hour]), 1, zone)[0]
        for zone in ZONES
        for hour in [_utc_of_local("2019-03-10", 8, zone)]
    }
    assert lags == {
        "America/New_York": pd.Timedelta(hours=23),
        "America/Los_Angeles": pd.Timedelta(hours=23),
        "America/Phoenix": pd.Timedelta(hours=24),
    }


def test_the_repeated_autumn_hour_reads_the_first_one() -> None:
    # 2019-11-04 01:00 local, a day back: 2019-11-03 01:00 exists twice in Los Angeles; the first is 08:00 UTC
    hour = pd.Series([_utc_of_local("2019-11-04", 1, "America/Los_Angeles")])
    back = baselines.same_local_hour_before(hour, 1, "America/Los_Angeles")[0]
    assert back == pd.Timestamp("2019-11-03 08:00", tz="UTC")


def test_the_target_calendar_is_the_systems_local_hour_and_weekday() -> None:
    # 2019-07-01 03:00 UTC: Sunday 23:00 in New York, Sunday 20:00 in Los Angeles and Phoenix (UTC-7)
    frame = pd.DataFrame({"as_of": [pd.Timestamp("2019-07-01 03:00", tz="UTC")]})
    got = {zone: target_calendar(frame, 1, zone).iloc[0].tolist() for zone in ZONES}
    assert got == {
        "America/New_York": [23.0, 1.0],
        "America/Los_Angeles": [20.0, 1.0],
        "America/Phoenix": [20.0, 1.0],
    }
    # in January Los Angeles is UTC-8 and Phoenix still UTC-7
    winter = pd.DataFrame({"as_of": [pd.Timestamp("2019-01-07 15:00", tz="UTC")]})
    hours = {zone: target_calendar(winter, 1, zone).iloc[0, 0] for zone in ZONES}
    assert hours == {"America/New_York": 10.0, "America/Los_Angeles": 7.0, "America/Phoenix": 8.0}


def test_without_a_zone_the_default_systems_clock_is_read() -> None:
    frame = pd.DataFrame({"as_of": [pd.Timestamp("2019-07-01 03:00", tz="UTC")]})
    assert target_calendar(frame, 1).equals(target_calendar(frame, 1, "America/New_York"))


def test_a_model_reads_its_later_horizons_calendar_on_its_own_systems_clock() -> None:
    from include.ml.model import StationFlowModel

    frame = pd.DataFrame({"as_of": [pd.Timestamp("2019-07-01 03:00", tz="UTC")], "x": [1.0]})
    phoenix = StationFlowModel(features=["x"], time_zone="America/Phoenix", ahead_history=False)
    older = StationFlowModel(features=["x"], ahead_history=False)
    del older.__dict__["time_zone"]  # a model saved before the field: the default system's clock
    assert phoenix._ahead_rows(frame, 2, None)["target_hour_of_day"].tolist() == [21.0]
    assert older._ahead_rows(frame, 2, None)["target_hour_of_day"].tolist() == [0.0]
