"""Months resolve to trip files in a data directory; window bounds parse to UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from include.gcp.settings import get_settings
from include.simulator.sources import month_files, parse_time


def test_month_resolves_in_the_shared_data_dir() -> None:
    data_dir = get_settings().trips_data_dir
    assert month_files("2019-09") == [data_dir / "JC-201909-citibike-tripdata.csv.zip"]
    assert month_files("201901", data_dir)[0].name == "JC-201901-citibike-tripdata.csv.zip"


def test_a_month_in_both_zip_and_csv_is_read_once_from_the_csv(tmp_path) -> None:
    for name in (
        "JC-202107-citibike-tripdata.csv",
        "JC-202107-citibike-tripdata.csv.zip",
        "202107-citibike-tripdata.zip",
    ):
        (tmp_path / name).write_text("x")
    assert [p.name for p in month_files("2021-07", tmp_path)] == [
        "202107-citibike-tripdata.zip",
        "JC-202107-citibike-tripdata.csv",
    ]


def test_missing_or_malformed_month_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="2018-01"):
        month_files("2018-01", tmp_path)
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_files("2019-13", tmp_path)


def test_parse_time() -> None:
    assert parse_time("2019-09-01") == datetime(2019, 9, 1, tzinfo=UTC)
    assert parse_time("2019-09-01T12:30Z") == datetime(2019, 9, 1, 12, 30, tzinfo=UTC)
    assert parse_time("2019-09-01T08:30-04:00") == datetime(2019, 9, 1, 12, 30, tzinfo=UTC)
    assert parse_time(datetime(2019, 9, 1, 8, tzinfo=timezone(timedelta(hours=-4)))).hour == 12
    assert parse_time("") is None
    assert parse_time(None) is None
