"""The training cadence: which hourly runs fit, in each system's local time, DST included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.gcp.settings import SettingsError
from include.ml.cadence import TrainCadence


def _fitting_hours(cadence: TrainCadence, zone: str, start: datetime, hours: int) -> list[str]:
    runs = [start + timedelta(hours=h) for h in range(hours)]
    return [f"{r.astimezone(UTC):%m-%d %H}" for r in runs if cadence.fits(r, zone)]


def test_hourly_fits_every_run_and_daily_is_the_measured_default() -> None:
    hourly = TrainCadence("hourly")
    assert len(_fitting_hours(hourly, "America/Phoenix", datetime(2019, 3, 9, tzinfo=UTC), 72)) == 72
    assert TrainCadence() == TrainCadence.from_env({}) == TrainCadence("daily", 3)


def test_daily_fits_once_a_local_day_at_its_hour_in_each_zone() -> None:
    daily = TrainCadence("daily", 3)
    start = datetime(2019, 7, 1, tzinfo=UTC)
    assert _fitting_hours(daily, "America/New_York", start, 48) == ["07-01 07", "07-02 07"]  # 03:00 EDT
    assert _fitting_hours(daily, "America/Phoenix", start, 48) == ["07-01 10", "07-02 10"]  # 03:00 MST


def test_daily_across_both_dst_changes_fits_exactly_once_a_day() -> None:
    spring = _fitting_hours(TrainCadence("daily", 2), "America/New_York", datetime(2019, 3, 9, tzinfo=UTC), 72)
    assert spring == ["03-09 07", "03-10 07", "03-11 06"]  # 02:00 EST; 03-10 has no 02:00: 03:00 EDT (07 UTC)
    autumn = _fitting_hours(TrainCadence("daily", 1), "America/Los_Angeles", datetime(2019, 11, 2, tzinfo=UTC), 72)
    assert autumn == ["11-02 08", "11-03 08", "11-04 09"]  # 01:00 exists twice on 11-03: the first (PDT)


def test_weekly_fits_on_monday_only() -> None:
    weekly = TrainCadence("weekly", 3)
    hours = _fitting_hours(weekly, "America/Chicago", datetime(2019, 7, 1, tzinfo=UTC), 24 * 14)
    assert hours == ["07-01 08", "07-08 08"]  # Mondays, 03:00 CDT


def test_settings_are_checked_and_read_from_the_environment() -> None:
    assert TrainCadence.from_env({"BIKESHARE_TRAIN_CADENCE": "daily", "BIKESHARE_TRAIN_LOCAL_HOUR": "4"}) == (
        TrainCadence("daily", 4)
    )
    with pytest.raises(SettingsError, match="TRAIN_CADENCE='monthly'"):
        TrainCadence("monthly")  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="TRAIN_LOCAL_HOUR=24"):
        TrainCadence("daily", 24)
    assert TrainCadence("daily", 3).describe("America/Denver") == "daily at 03:00 America/Denver"


def test_fits_at_once_is_one_by_default_and_never_zero() -> None:
    assert TrainCadence.from_env({}).fits_at_once == 1
    assert TrainCadence.from_env({"BIKESHARE_ML_FITS_AT_ONCE": "3"}).fits_at_once == 3
    for bad in ("0", "-1", "two"):
        with pytest.raises(SettingsError, match="BIKESHARE_ML_FITS_AT_ONCE"):
            TrainCadence.from_env({"BIKESHARE_ML_FITS_AT_ONCE": bad})
