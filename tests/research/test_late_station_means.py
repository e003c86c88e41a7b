"""The research copy's 26-week same-weekday-hour means of a station younger than 26 weeks: the mean over the
weeks it existed, as dbt's int_station_weekly_profiles (profile rows from the hour of the station's first
pickup, int_fleet_stations.joined_at), not a sum divided by 26. Hand-computed on a small event frame, no
emulator (tests/research/test_feature_copy.py ties the copy to dbt itself on the emulator).

All times are New York wall-clock. The as_ofs are Tuesday 2019-09-03 11:00 and 12:00 (EDT); the same weekday
and hour 1..26 weeks earlier are the Tuesdays 08-27 (week 1) back to 03-05 (week 26, EST: before the spring
change, so 17:00 UTC, not 16:00).

- L starts late: its first pickup is on Tuesday 06-25 at 12:10 (week 10). A dropoff on 06-18 (week 11) comes
  before it: a station joins the fleet with its first pickup, not its first event, so that week is not one of
  its weeks. At 12:00 it has 10 weeks (the hour holding the first pickup counts, as dbt's joined_at < hour + 1h);
  at 11:00 nine (06-25 11:00 is before it joined).
- O is older than 26 weeks (first pickup 01-01): its mean is over 26 weeks, and its pickup 27 weeks back is
  outside them.
"""

from __future__ import annotations

import pandas as pd
import pytest

from research import model_research

TZ = "America/New_York"
FEATURES = ["pickups", "dropoffs", "net_change"]


def local(ts: str) -> pd.Timestamp:
    return pd.Timestamp(ts).tz_localize(TZ).tz_convert("UTC")


EVENTS = [
    ("L", "2019-06-18 12:30", "dropoff"),  # week 11, before L's first pickup: not one of its weeks
    ("L", "2019-06-25 12:10", "pickup"),  # week 10: L joins
    ("L", "2019-07-02 12:30", "dropoff"),  # week 9
    ("L", "2019-07-16 12:10", "pickup"),  # week 7
    ("L", "2019-07-30 11:20", "pickup"),  # week 5, the 11:00 hour
    ("L", "2019-08-27 12:10", "pickup"),  # week 1
    ("L", "2019-08-27 12:50", "pickup"),  # week 1
    ("L", "2019-09-03 12:05", "dropoff"),  # at as_of 12:00 itself: in no mean
    ("O", "2019-01-01 12:10", "pickup"),  # week 35: O joins
    ("O", "2019-02-26 12:10", "pickup"),  # week 27: outside the 26 weeks
    ("O", "2019-03-05 12:10", "pickup"),  # week 26 (EST)
    ("O", "2019-08-27 12:10", "pickup"),  # week 1
    ("O", "2019-08-27 12:20", "dropoff"),  # week 1
]

EXPECTED = {  # (station, as_of) -> 26-week means of pickups, dropoffs, net change
    ("L", "2019-09-03 12:00"): (4 / 10, 1 / 10, 1 / 10 - 4 / 10),  # weeks 1..10: pickups in 10, 7, 1, 1
    ("L", "2019-09-03 11:00"): (1 / 9, 0.0, -1 / 9),  # weeks 1..9: the pickup of week 5
    ("O", "2019-09-03 12:00"): (2 / 26, 1 / 26, 1 / 26 - 2 / 26),  # weeks 1..26: pickups in 26 and 1
    ("O", "2019-09-03 11:00"): (0.0, 0.0, 0.0),
}


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "station_id": [s for s, _, _ in EVENTS],
            "ts": [local(t) for _, t, _ in EVENTS],
            "kind": [k for _, _, k in EVENTS],
        }
    )
    hours = pd.date_range(local("2019-01-01 00:00"), local("2019-09-03 12:00"), freq="h")
    labels = model_research.counts_on_grid(df, hours)
    quarters = model_research.quarter_counts(df, set(labels["station_id"]))
    return model_research.features(labels, {"L": 19.0, "O": 23.0}, set(), quarters)


@pytest.mark.parametrize(("station", "as_of"), list(EXPECTED), ids=lambda v: str(v))
def test_the_26_week_means_are_over_the_weeks_the_station_existed(feats, station: str, as_of: str) -> None:
    row = feats[(feats["station_id"] == station) & (feats["as_of"] == local(as_of))]
    assert len(row) == 1
    actual = tuple(float(row[f"same_weekday_hour_mean_{f}_26w"].iloc[0]) for f in FEATURES)
    assert actual == pytest.approx(EXPECTED[station, as_of], abs=1e-12)


def test_a_station_before_its_first_pickup_has_no_weeks(feats) -> None:
    """Before it joined, L's means are 0 (dbt: no profile rows, coalesced to 0), though its grid has hours."""
    early = feats[(feats["station_id"] == "L") & (feats["as_of"] <= local("2019-06-25 12:00"))]
    assert len(early) > 24 * 7 * 20
    for f in FEATURES:
        assert (early[f"same_weekday_hour_mean_{f}_26w"] == 0).all()


def test_the_4_week_means_still_count_every_week(feats) -> None:
    """Only the 26-week profile is over the weeks the station existed; the 4-week means divide by 4 (dbt counts
    hours before the events as zero there)."""
    row = feats[(feats["station_id"] == "L") & (feats["as_of"] == local("2019-09-03 12:00"))]
    assert float(row["same_weekday_hour_mean_pickups_4w"].iloc[0]) == pytest.approx(2 / 4)
