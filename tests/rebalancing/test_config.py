"""The plan's configuration from BIKESHARE_REBALANCING_* variables: defaults, overrides, clear errors."""

from __future__ import annotations

import pytest

from include.gcp.settings import SettingsError
from include.rebalancing.config import RebalancingConfig


def test_defaults_are_the_issues_two_trucks_of_twenty_at_ten_percent() -> None:
    config = RebalancingConfig.from_env({"BIKESHARE_PROFILE": "gcp"})
    assert (config.trucks, config.truck_capacity, config.service_level, config.depot) == (2, 20, 0.10, None)
    assert config.max_status_age_minutes == 30


def test_the_local_feed_reports_on_change_so_a_quiet_station_is_not_stale() -> None:
    assert RebalancingConfig.from_env({}).max_status_age_minutes == 24 * 60


def test_every_setting_can_be_overridden() -> None:
    config = RebalancingConfig.from_env(
        {
            "BIKESHARE_REBALANCING_TRUCKS": "3",
            "BIKESHARE_REBALANCING_TRUCK_CAPACITY": "12",
            "BIKESHARE_REBALANCING_SERVICE_LEVEL": "0.05",
            "BIKESHARE_REBALANCING_DEPOT_LAT": "40.72",
            "BIKESHARE_REBALANCING_DEPOT_LON": "-74.05",
            "BIKESHARE_REBALANCING_MAX_STATUS_AGE_MINUTES": "10",
        }
    )
    assert (config.trucks, config.truck_capacity, config.service_level) == (3, 12, 0.05)
    assert config.depot == (40.72, -74.05)
    assert config.max_status_age_minutes == 10


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"BIKESHARE_REBALANCING_SERVICE_LEVEL": "1.5"}, "SERVICE_LEVEL"),
        ({"BIKESHARE_REBALANCING_SERVICE_LEVEL": "nan"}, "SERVICE_LEVEL"),
        ({"BIKESHARE_REBALANCING_TRUCKS": "two"}, "TRUCKS"),
        ({"BIKESHARE_REBALANCING_TRUCK_CAPACITY": "0"}, "TRUCK_CAPACITY"),
        ({"BIKESHARE_REBALANCING_DEPOT_LAT": "40.7"}, "DEPOT_LON"),
    ],
)
def test_a_bad_value_names_its_variable(environ: dict[str, str], names: str) -> None:
    with pytest.raises(SettingsError, match=names):
        RebalancingConfig.from_env(environ)
