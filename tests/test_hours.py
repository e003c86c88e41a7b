"""The hour as a value: floored at the DAG edge, strict inside, always a plain UTC datetime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pendulum
import pytest

from include.gcp import paths
from include.hours import Hour
from include.ml import dataset

NINE = datetime(2019, 9, 30, 9, tzinfo=UTC)


def test_a_manual_run_at_09_17_is_the_09_00_run() -> None:
    assert Hour.floor(NINE + timedelta(minutes=17, seconds=3)) == Hour(NINE)
    assert Hour.floor(NINE) == Hour(NINE)


def test_inside_the_edge_an_hour_must_be_on_the_hour() -> None:
    with pytest.raises(ValueError, match="not on the hour"):
        Hour.of(NINE + timedelta(minutes=17))
    with pytest.raises(ValueError, match="not on the hour"):  # the strict callers use the same type
        dataset.Window.before(NINE + timedelta(minutes=17), 1)
    with pytest.raises(ValueError, match="not on the hour"):
        paths.predictions("dev", "v", NINE + timedelta(minutes=17))


def test_a_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        Hour.floor(datetime(2019, 9, 30, 9, 17))


def test_any_zone_becomes_a_plain_utc_datetime() -> None:
    new_york = datetime(2019, 9, 30, 5, 17, tzinfo=ZoneInfo("America/New_York"))
    assert Hour.floor(new_york).start == NINE
    assert Hour.floor(datetime(2019, 9, 30, 11, 5, tzinfo=timezone(timedelta(hours=2)))).start == NINE
    from_airflow = Hour.floor(pendulum.datetime(2019, 9, 30, 9, 17, tz="UTC"))
    assert type(from_airflow.start) is datetime  # pendulum's loses its zone on arithmetic
    assert (from_airflow - timedelta(hours=1)).start.tzinfo is UTC


def test_arithmetic_and_order() -> None:
    hour = Hour(NINE)
    assert (hour + timedelta(hours=1)).start == hour.end == NINE + timedelta(hours=1)
    assert hour - timedelta(days=7) < hour
    with pytest.raises(ValueError, match="not on the hour"):
        hour + timedelta(minutes=30)
    assert str(hour) == "2019-09-30 09:00 UTC"
    assert hour.isoformat() == "2019-09-30T09:00:00+00:00"
