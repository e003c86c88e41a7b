"""station_predictions: a run's served forecasts (horizons 1..3), loaded from its Avro records, replaced on a
load without touching another run's rows; the next-hour count, the rates a plan reads, an old table migrated;
the first write of an hour served, a rerun's written beside it (station_predictions_backfill)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from include.gcp import bucket, clients, paths, resources
from include.gcp.hour_rows import replace_hour
from include.gcp.settings import Settings
from include.gcp.tables import STATION_PREDICTIONS, STATION_PREDICTIONS_BACKFILL, STATION_PREDICTIONS_SPEC
from include.ml import predictions, served

HOUR = datetime(2019, 9, 30, 4, tzinfo=UTC)
H = timedelta(hours=1)


def _records(hour: datetime, stations: list[str], version: str = "20190930T0400Z") -> list[dict]:
    n = len(stations)
    return predictions.records(stations, [1.0] * n, [2.0] * n, [3.0] * n, hour, version, net_mean=[0.5] * n)


def _run(cutoff: datetime, stations: list[str], version: str, horizons: int = 3) -> list[dict]:
    """A run's records as write_predictions makes them: pickups = 10 * horizon + the run's hour, dropoffs 1."""
    out = []
    for k in range(1, horizons + 1):
        n = len(stations)
        pickups = [10.0 * k + cutoff.hour] * n
        out += predictions.records(stations, [0.0] * n, pickups, [1.0] * n, cutoff + (k - 1) * H, version, horizon=k)
    return out


@pytest.fixture
def s(test_settings: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    """A dataset of the test's own: the tests here write the same hours."""
    settings = test_settings.with_names(dataset=f"{test_settings.dataset}_{request.node.name[5:25]}")
    client = clients.bigquery_client(settings)
    client.create_dataset(settings.dataset, exists_ok=True)
    yield settings
    client.delete_dataset(settings.dataset, delete_contents=True, not_found_ok=True)


def _table(s: Settings, table: str = STATION_PREDICTIONS) -> pd.DataFrame:
    sql = f"SELECT * FROM `{s.table_id(table)}` ORDER BY target_hour, horizon, station_id"
    frame = clients.bigquery_client(s).query(sql).result().to_arrow(create_bqstorage_client=False).to_pandas()
    frame["target_hour"] = pd.to_datetime(frame["target_hour"], utc=True)
    return frame


def test_an_hour_is_loaded_once_and_a_rerun_replaces_it(s: Settings) -> None:
    assert served.load_hour(_records(HOUR, ["a", "b", "c"]), HOUR, s) == 3
    assert served.load_hour(_records(HOUR + H, ["a"]), HOUR + H, s) == 1
    assert served.load_hour(_records(HOUR, ["a", "b"], "20190930T0500Z"), HOUR, s) == 2  # the rerun
    assert served.rows_for_hour(HOUR, s) == 2
    assert served.rows_for_hour(HOUR + H, s) == 1
    rows = _table(s)
    rows = rows[rows["target_hour"] == HOUR]
    assert set(zip(rows["station_id"], rows["model_version"], rows["predicted_net_change_mean"], strict=True)) == {
        ("a", "20190930T0500Z", 0.5),
        ("b", "20190930T0500Z", 0.5),
    }
    assert set(rows["horizon"]) == {1}


def test_a_rerun_replaces_all_horizons_of_its_run_and_no_other_runs_rows(s: Settings) -> None:
    """Runs T-1h, T and T+1h overlap on target hours; rerunning T replaces its three horizons only."""
    for cutoff in (HOUR - H, HOUR, HOUR + H):
        assert served.load_run(_run(cutoff, ["a", "b"], "v1"), cutoff, s) == 6
    assert served.load_run(_run(HOUR, ["a"], "v2"), HOUR, s) == 3  # the rerun: one station left, a new version

    table = _table(s)
    assert len(table) == 6 + 3 + 6
    run = table[table["target_hour"] - (table["horizon"] - 1) * H == HOUR]
    assert list(zip(run["horizon"], run["station_id"], run["model_version"], strict=True)) == [
        (1, "a", "v2"),
        (2, "a", "v2"),
        (3, "a", "v2"),
    ]
    others = table[table["model_version"] == "v1"]
    assert sorted(set(others["target_hour"] - (others["horizon"] - 1) * H)) == [HOUR - H, HOUR + H]
    assert len(others) == 12  # both neighbours keep all their rows, including those of hours T, T+1h, T+2h

    # the next-hour count of hour T is run T's horizon 1, not run T-1h's horizon 2
    assert served.rows_for_hour(HOUR, s) == 1
    assert served.rows_for_hour(HOUR + H, s) == 2
    assert served.rows_for_hour(HOUR + 3 * H, s) == 0  # only run T+1h's horizon 3 falls there

    rates = served.rates_for_run(HOUR - H, s)
    assert list(rates.columns) == served.RATE_COLUMNS
    assert list(zip(rates["station_id"], rates["horizon"], strict=True)) == [
        ("a", 1),
        ("a", 2),
        ("a", 3),
        ("b", 1),
        ("b", 2),
        ("b", 3),
    ]
    assert rates["predicted_pickups"].tolist() == [13.0, 23.0, 33.0] * 2  # run T-1h's own rows (hour 3)
    assert (rates["predicted_dropoffs"] == 1.0).all()
    assert set(rates["model_version"]) == {"v1"}
    assert served.rates_for_run(HOUR, s)["predicted_pickups"].tolist() == [14.0, 24.0, 34.0]
    empty = served.rates_for_run(HOUR + 5 * H, s)
    assert empty.empty
    assert list(empty.columns) == served.RATE_COLUMNS


def test_records_of_another_run_are_refused(test_settings: Settings) -> None:
    with pytest.raises(ValueError, match="not of the run at"):
        served.load_hour(_records(HOUR, ["a"]), HOUR + H, test_settings)
    shifted = [{**r, "target_hour": r["target_hour"] + H} for r in _run(HOUR, ["a"], "v1")]
    with pytest.raises(ValueError, match="target_hour = cut-off \\+ horizon - 1 h"):
        served.load_run(shifted, HOUR, test_settings)


def test_a_table_from_before_the_horizons_is_migrated_by_the_first_run_and_its_rows_read_as_horizon_1(
    s: Settings,
) -> None:
    client = clients.bigquery_client(s)
    old = replace(
        STATION_PREDICTIONS_SPEC, schema=tuple(f for f in STATION_PREDICTIONS_SPEC.schema if f.name != "horizon")
    )
    table_id = s.table_id(STATION_PREDICTIONS)
    client.delete_table(table_id, not_found_ok=True)
    resources.ensure_table(old, s)
    old_rows = [{k: v for k, v in r.items() if k != "horizon"} for r in _records(HOUR, ["a", "b"], "v0")]
    assert replace_hour(old, "target_hour", HOUR, old_rows, s) == 2  # as the code before the horizons wrote them
    assert served.rows_for_hour(HOUR, s) == 2  # read before the migration: all rows are the next hour
    assert served.rates_for_run(HOUR, s)["horizon"].tolist() == [1, 1]

    assert served.load_run(_run(HOUR + H, ["a"], "v1"), HOUR + H, s) == 3  # migrates, then replaces
    assert "horizon" in [f.name for f in client.get_table(table_id).schema]
    table = _table(s)
    assert len(table) == 5
    assert table[table["model_version"] == "v0"]["horizon"].isna().all()  # old rows kept, NULL = 1
    assert served.rows_for_hour(HOUR, s) == 2
    assert served.rows_for_hour(HOUR + H, s) == 1
    assert served.rates_for_run(HOUR, s)["horizon"].tolist() == [1, 1]
    assert served.load_run(_run(HOUR, ["a", "b"], "v2", horizons=1), HOUR, s) == 2  # a rerun of the old hour
    assert set(_table(s).query("model_version == 'v0'")["station_id"]) == set()
    assert "added" not in resources.ensure_table(STATION_PREDICTIONS_SPEC, s).name  # migrated once


def test_the_first_write_of_an_hour_is_served_and_a_rerun_is_a_backfill_beside_it(s: Settings) -> None:
    """What was served stays as served: the hour's first write is its record (file and rows); a rerun of the
    hour (another model, other values) goes to predictions_backfill/ and station_predictions_backfill, and the
    next rerun replaces that backfill, never the served rows or file."""
    assert served.served_version(HOUR, s) is None  # no table yet
    first = served.write_run(_run(HOUR, ["a", "b"], "v1"), HOUR, "v1", "scheduled__1", s)
    assert (first.served, first.rows, first.served_version) == (True, 6, "v1")
    assert first.path.endswith(paths.predictions(s.system_root, "v1", HOUR))
    assert served.served_version(HOUR, s) == "v1"
    assert served.served_version(HOUR + H, s) is None  # run T's horizon 2 is not run T+1h's record
    record = _table(s)

    rerun = [{**r, "predicted_pickups": 99.0} for r in _run(HOUR, ["a", "b"], "v2")]
    again = served.write_run(rerun, HOUR, "v2", "backfill__2", s)
    assert (again.served, again.rows, again.served_version) == (False, 6, "v1")
    assert again.path.endswith(paths.predictions_backfill(s.system_root, HOUR))
    pd.testing.assert_frame_equal(_table(s), record)  # the served rows: the same values, the same model
    assert {r["model_version"] for r in predictions.read("v1", HOUR, s)} == {"v1"}  # the served file kept
    assert not bucket.exists(paths.predictions(s.system_root, "v2", HOUR), s)
    backfill = _table(s, STATION_PREDICTIONS_BACKFILL)
    assert set(zip(backfill["model_version"], backfill["run_id"], backfill["predicted_pickups"], strict=True)) == {
        ("v2", "backfill__2", 99.0)
    }
    assert {r["predicted_pickups"] for r in predictions.read_backfill(HOUR, s)} == {99.0}

    served.write_run(_run(HOUR, ["a"], "v1"), HOUR, "v1", "backfill__3", s)  # the next rerun replaces the backfill
    backfill = _table(s, STATION_PREDICTIONS_BACKFILL)
    assert set(zip(backfill["station_id"], backfill["run_id"], strict=True)) == {("a", "backfill__3")}
    assert len(backfill) == 3
    pd.testing.assert_frame_equal(_table(s), record)
    assert served.rows_for_hour(HOUR, s) == 2
    assert served.rates_for_run(HOUR, s)["model_version"].tolist() == ["v1"] * 6  # the plan reads the served rates

    other = served.write_run(_run(HOUR + H, ["a"], "v3"), HOUR + H, "v3", None, s)  # another hour: its own record
    assert other.served
    assert served.served_version(HOUR + H, s) == "v3"
