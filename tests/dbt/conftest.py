"""A test dataset with a few days of real Citi Bike events, and dbt pointed at it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from include.dbt.runner import DbtResult, dbt_vars, run_dbt
from include.gcp.events import Event
from include.gcp.raw_events import load_raw_events
from include.gcp.settings import Settings
from include.simulator.sources import month_files
from include.simulator.trips import events_from_files

EVENTS_START = datetime(2019, 9, 1, tzinfo=UTC)
EVENTS_END = datetime(2019, 9, 4, tzinfo=UTC)


@pytest.fixture(scope="session")
def trip_events() -> list[Event]:
    """Every event of 1-3 September 2019 (Jersey City), ~7k."""
    return events_from_files(month_files("2019-09"), EVENTS_START, EVENTS_END)


@pytest.fixture(scope="session")
def dbt_settings(test_settings: Settings, trip_events: list[Event]) -> Settings:
    """The session's test dataset with raw_events loaded and the seeds in place."""
    load_raw_events([e.to_dict() for e in trip_events], test_settings)
    return test_settings


@pytest.fixture(scope="session")
def dbt_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's dbt target dir (manifest, run_results.json of the last command)."""
    return tmp_path_factory.mktemp("dbt") / "target"


@pytest.fixture(scope="session")
def dbt(dbt_settings: Settings, dbt_target: Path) -> Callable[..., DbtResult]:
    """Run a dbt command against the test dataset, with a target dir of its own; fails on error."""
    target = dbt_target

    def run(*args: str, as_of: datetime | None = None, check: bool = True, **more_vars: object) -> DbtResult:
        variables = {**dbt_vars(as_of=as_of), **more_vars}
        return run_dbt(list(args), dbt_settings, vars=variables or None, target_path=target, check=check)

    run("seed")
    return run
