"""station_predictions: an hour's served forecasts, loaded from its Avro records, replaced on a rerun."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.gcp import clients
from include.gcp.settings import Settings
from include.gcp.tables import STATION_PREDICTIONS
from include.ml import predictions, served

HOUR = datetime(2019, 9, 30, 4, tzinfo=UTC)


def _records(hour: datetime, stations: list[str], version: str = "20190930T0400Z") -> list[dict]:
    n = len(stations)
    return predictions.records(stations, [1.0] * n, [2.0] * n, [3.0] * n, hour, version, net_mean=[0.5] * n)


def test_an_hour_is_loaded_once_and_a_rerun_replaces_it(test_settings: Settings) -> None:
    s = test_settings
    assert served.load_hour(_records(HOUR, ["a", "b", "c"]), HOUR, s) == 3
    assert served.load_hour(_records(HOUR + timedelta(hours=1), ["a"]), HOUR + timedelta(hours=1), s) == 1
    assert served.load_hour(_records(HOUR, ["a", "b"], "20190930T0500Z"), HOUR, s) == 2  # the rerun
    assert served.rows_for_hour(HOUR, s) == 2
    assert served.rows_for_hour(HOUR + timedelta(hours=1), s) == 1
    rows = list(
        clients.bigquery_client(s)
        .query(f"SELECT * FROM `{s.table_id(STATION_PREDICTIONS)}` WHERE target_hour = '{HOUR.isoformat()}'")
        .result()
    )
    assert {(r["station_id"], r["model_version"], r["predicted_net_change_mean"]) for r in rows} == {
        ("a", "20190930T0500Z", 0.5),
        ("b", "20190930T0500Z", 0.5),
    }


def test_records_of_another_hour_are_refused(test_settings: Settings) -> None:
    with pytest.raises(ValueError, match="every row must have target_hour"):
        served.load_hour(_records(HOUR, ["a"]), HOUR + timedelta(hours=1), test_settings)
