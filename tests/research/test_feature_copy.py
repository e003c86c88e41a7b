"""The research harness's pandas copy of the feature contract (research/model_research.py ``features``) is
tied to the dbt table: on real events built by dbt on the emulator, every column it produces equals
``station_features_wide``'s at every on-the-hour as_of.

dbt counts hours before the events as zero; the copy gives them NaN (no history) unless its hour grid starts
earlier, so the grid here starts four weeks and a day before the first event (the harness drops only the
first week of its nine months: its 4-week means and 1-week lags are NaN a little longer than dbt's zeros). The
fleet's system_* counts are dbt's once every station of the slice has had its first pickup: dbt's fleet grows
with first pickups, the copy's is every station with a pickup in its whole period. ``is_peak_station`` has no
copy (the harness never used it).

A station that starts late: the slice's busiest station gets ten weeks of history before the slice (its first
pickup on Monday 2019-06-24 at 10:37 New York time, a dropoff the day before), so its 26-week same-weekday-hour
means are over fewer than 26 weeks, 9 or 10 depending on the as_of's weekday and hour. dbt builds the same as_ofs
as without it (``features_start``: 15 minutes after the slice's first event); the history reaches them through
the 7-day, 4-week and 26-week windows.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from include.dbt.runner import dbt_vars, run_dbt
from include.gcp import clients, resources
from include.gcp.events import Event
from include.gcp.raw_events import load_raw_events
from include.gcp.settings import Settings
from research import model_research
from tests.conftest import drop_resources
from tests.dbt.conftest import EVENTS_END, EVENTS_START

AS_OF_END = pd.Timestamp(EVENTS_END)  # the build's as_of: every event of the slice is before it
HISTORY_PAD = pd.Timedelta(days=29)
NOT_COPIED = {"is_peak_station"}
LATE_FIRST_PICKUP = pd.Timestamp("2019-06-24 14:37", tz="UTC")  # Monday 10:37 EDT, ten weeks before Monday 09-02


def late_history(station: str) -> list[Event]:
    """``station``'s events from LATE_FIRST_PICKUP to a day before the slice, one every 3 h 17 min (so a different
    hour of the week each week), two pickups to a dropoff; and a dropoff the day before: the fleet takes a station
    in at its first pickup, not its first event, so that day's week is none of its 26."""
    events = [Event((LATE_FIRST_PICKUP - timedelta(hours=23)).to_pydatetime(), "late-history-0", station, "dropoff")]
    ts, i = LATE_FIRST_PICKUP, 1
    while ts < EVENTS_START - timedelta(days=1):
        kind = "dropoff" if i % 3 == 0 else "pickup"
        events.append(Event(ts.to_pydatetime(), f"late-history-{i}", station, kind))
        ts, i = ts + timedelta(hours=3, minutes=17), i + 1
    return events


@pytest.fixture(scope="module")
def late_station(trip_events: list[Event]) -> str:
    return Counter(e.station_id for e in trip_events if e.kind == "pickup").most_common(1)[0][0]


@pytest.fixture(scope="module")
def events(trip_events: list[Event], late_station: str) -> list[Event]:
    """The slice, and the late station's ten weeks before it."""
    return sorted([*late_history(late_station), *trip_events])


@pytest.fixture(scope="module")
def dbt_wide(local_stack: Settings, events: list[Event], tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """station_features_wide at the on-the-hour as_ofs, built by dbt in a dataset of this module."""
    tag = uuid.uuid4().hex[:8]
    settings = local_stack.with_names(
        dataset=f"test_research_{tag}",
        topic=f"test-research-{tag}",
        subscription=f"test-research-{tag}-sub",
        bucket=f"test-research-{tag}",
    )
    resources.ensure_all(settings)
    try:
        load_raw_events([e.to_dict() for e in events], settings)
        target: Path = tmp_path_factory.mktemp("dbt-research") / "target"
        run_dbt(["seed"], settings, target_path=target)
        run_dbt(
            ["run", "--select", "+station_features_wide"],
            settings,
            vars=dbt_vars(as_of=AS_OF_END.to_pydatetime(), features_start=features_start(events)),
            target_path=target,
        )
        sql = (
            f"select * from `{settings.project}.{settings.dataset}.station_features_wide` "
            "where extract(minute from as_of) = 0"
        )
        rows = clients.bigquery_client(settings).query(sql).result()
        yield pd.DataFrame([dict(row.items()) for row in rows])
    finally:
        drop_resources(settings)


def features_start(events: list[Event]) -> datetime:
    """The first as_of dbt builds without the late history: 15 minutes after the slice's first event's quarter."""
    first = min(pd.Timestamp(e.ts) for e in events if e.ts >= EVENTS_START)
    return (first.floor("15min") + pd.Timedelta(minutes=15)).to_pydatetime()


@pytest.fixture(scope="module")
def pandas_copy(events: list[Event]) -> pd.DataFrame:
    """The harness's features of the same events, on an hour grid from well before them up to the build's as_of."""
    df = model_research.events_frame([e for e in events if e.ts < AS_OF_END])
    hours = pd.date_range(df["ts"].min().floor("h") - HISTORY_PAD, AS_OF_END, freq="h")
    labels = model_research.counts_on_grid(df, hours)
    quarters = model_research.quarter_counts(df, set(labels["station_id"]))
    return model_research.features(labels, model_research.capacities(), model_research.us_holidays(), quarters)


def test_every_column_of_the_pandas_copy_equals_station_features_wide(
    dbt_wide: pd.DataFrame, pandas_copy: pd.DataFrame
) -> None:
    copied = [c for c in pandas_copy.columns if c not in ("station_id", "as_of")]
    dbt_features = set(dbt_wide.columns) - {"system_id", "station_id", "as_of"}
    assert set(copied) == dbt_features - NOT_COPIED, "the copy and the dbt contract name the same features"
    dbt_wide = dbt_wide.assign(as_of=pd.to_datetime(dbt_wide["as_of"], utc=True))
    both = dbt_wide.merge(pandas_copy, on=["station_id", "as_of"], how="left", suffixes=("_dbt", ""))
    assert len(both) == len(dbt_wide) > 2000
    assert both["hour_of_day"].notna().all(), "every station-hour dbt has, the copy has"
    fleet = pandas_copy["station_id"].nunique()
    whole_fleet = both.groupby("as_of")["station_id"].transform("size") == fleet
    assert whole_fleet.mean() > 0.5, "most as_ofs have the whole fleet"
    mismatched = {}
    for col in copied:
        rows = whole_fleet if col.startswith("system_") else slice(None)
        dbt_values = both.loc[rows, f"{col}_dbt"].to_numpy(float)
        copy_values = both.loc[rows, col].to_numpy(float)
        close = np.isclose(copy_values, dbt_values, rtol=1e-9, atol=1e-9)
        if not close.all():
            first = both.loc[rows].loc[~close].iloc[0]
            mismatched[col] = (
                int((~close).sum()),
                first["station_id"],
                str(first["as_of"]),
                first[col],
                first[f"{col}_dbt"],
            )
    assert not mismatched, mismatched
    assert both["net_change_lag24h"].abs().sum() > 0, "the day-ago lags are compared on real values"


def test_the_late_station_is_compared_on_its_own_weeks(dbt_wide: pd.DataFrame, late_station: str) -> None:
    """The test above compares the 26-week means of a station younger than 26 weeks where they are not 0: there a
    copy that also counted weeks before the station's first pickup (all 26 on the harness's nine-month grid, the
    grid's padding weeks here) gives less than dbt, which divides by the 9 or 10 weeks the station existed."""
    assert pd.to_datetime(dbt_wide["as_of"], utc=True).min() >= EVENTS_START, "no as_of in the history weeks"
    late = dbt_wide[dbt_wide["station_id"] == late_station]
    assert len(late) > 60, "the late station is in dbt's fleet at the slice's as_ofs"
    for col in ("pickups", "dropoffs"):
        assert (late[f"same_weekday_hour_mean_{col}_26w"] > 0).sum() > 20, col
    others = dbt_wide[dbt_wide["station_id"] != late_station]
    assert (others["same_weekday_hour_mean_pickups_26w"] == 0).all(), "no other station has a week before the slice"
