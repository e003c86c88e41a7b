"""One system's rerun replaces its own hour's rows only: the hourly tables are keyed by system (issue 24 §1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from include.gcp import clients, resources
from include.gcp.hour_rows import replace_hour
from include.gcp.settings import Settings
from include.gcp.tables import FEATURE_DRIFT_SPEC

pytestmark = pytest.mark.integration
HOUR = datetime(2019, 9, 1, 8, tzinfo=UTC)


@pytest.fixture
def two_systems(systems_table) -> None:
    systems_table("citibike-jc", "phx")


def _rows(feature: str) -> list[dict[str, object]]:
    return [{"checked_hour": HOUR, "model_version": "v", "feature": feature, "psi": 0.1, "rows": 5}]


def test_a_systems_rerun_leaves_the_other_systems_rows(test_settings: Settings, two_systems: None) -> None:
    spec = replace(FEATURE_DRIFT_SPEC, name="drift_by_system")
    resources.ensure_table(spec, test_settings)
    jc, phx = test_settings.for_system("citibike-jc"), test_settings.for_system("phx")
    replace_hour(spec, "checked_hour", HOUR, _rows("a"), jc)
    replace_hour(spec, "checked_hour", HOUR, _rows("b"), phx)
    replace_hour(spec, "checked_hour", HOUR, _rows("c"), phx)  # phx's rerun of the hour
    sql = f"SELECT system_id, feature FROM `{test_settings.table_id(spec.name)}` ORDER BY system_id"
    got = [(r.system_id, r.feature) for r in clients.bigquery_client(test_settings).query(sql).result()]
    assert got == [("citibike-jc", "a"), ("phx", "c")]
    with pytest.raises(ValueError, match="written as phx's"):
        replace_hour(spec, "checked_hour", HOUR, [{**_rows("d")[0], "system_id": "citibike-jc"}], phx)
    with pytest.raises(Exception, match="no system 'gotham'"):
        test_settings.for_system("gotham")
