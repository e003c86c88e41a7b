"""The marts' data tests check the rows a run can have written; without an as_of they audit everything.

A duplicate key outside the run's test window passes the 15-minute run's tests and fails the full
audit; inside the window it fails the run's tests (macros/test_window.sql).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from include.dbt.runner import DbtResult
from include.gcp import clients
from include.gcp.settings import Settings

pytestmark = pytest.mark.integration

AS_OF = datetime(2019, 9, 3, 0, 0, tzinfo=UTC)
OLD = AS_OF - timedelta(days=1, hours=6)  # outside the default 1440-minute window
MARKER = -999.0  # the value of the planted duplicates, so they can be removed again


@pytest.fixture
def features(dbt: Callable[..., DbtResult], dbt_settings: Settings) -> Iterator[str]:
    dbt("run", as_of=AS_OF)
    table = f"`{dbt_settings.table_id('station_features_wide')}`"
    yield table
    clients.bigquery_client(dbt_settings).query(f"delete from {table} where capacity = {MARKER}").result()


def plant_duplicate(settings: Settings, table: str, as_of: datetime) -> None:
    """A second row for one (station_id, as_of) of the wide table (and so 46 in the tall view)."""
    sql = (
        f"insert into {table} select * replace ({MARKER} as capacity) from {table} "
        f"where as_of = timestamp '{as_of.isoformat()}' limit 1"
    )
    job = clients.bigquery_client(settings).query(sql)
    job.result()
    assert job.num_dml_affected_rows == 1


def unique_test(dbt: Callable[..., DbtResult], as_of: datetime | None) -> DbtResult:
    return dbt("test", "--select", "unique_combination_station_features_wide*", as_of=as_of, check=False)


def test_old_rows_are_left_to_the_full_audit(dbt, dbt_settings: Settings, features: str) -> None:
    assert unique_test(dbt, AS_OF).ok
    plant_duplicate(dbt_settings, features, OLD)
    assert unique_test(dbt, AS_OF).ok, "a row older than the window was tested"
    audit = unique_test(dbt, None)
    assert not audit.ok
    assert "FAIL 1" in audit.output


def test_rows_in_the_window_are_tested(dbt, dbt_settings: Settings, features: str) -> None:
    plant_duplicate(dbt_settings, features, AS_OF - timedelta(hours=2))
    run = unique_test(dbt, AS_OF)
    assert not run.ok
    assert "FAIL 1" in run.output
