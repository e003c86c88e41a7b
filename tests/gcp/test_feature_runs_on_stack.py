"""The feature store's run log on the BigQuery emulator: appends, and the gate for the orders runs happen in.

Each test gets a dataset of its own (the gate reads the whole log of a dataset).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from google.api_core.exceptions import NotFound

from include.gcp import clients, feature_runs
from include.gcp.settings import Settings
from include.gcp.tables import FEATURE_STORE_RUNS, FEATURE_STORE_RUNS_SPEC

pytestmark = pytest.mark.integration

LIVE = datetime(2019, 9, 4, 10, tzinfo=UTC)
QUARTER = timedelta(minutes=15)
_datasets = itertools.count()


@pytest.fixture
def log(test_settings: Settings) -> Iterator[Settings]:
    s = test_settings.with_names(dataset=f"{test_settings.dataset}_runs{next(_datasets)}")
    client = clients.bigquery_client(s)
    client.create_dataset(s.dataset)
    yield s
    client.delete_dataset(s.dataset, delete_contents=True, not_found_ok=True)


def rows(s: Settings) -> list[tuple]:
    sql = f"SELECT run_id, as_of, state FROM `{s.table_id(FEATURE_STORE_RUNS)}` ORDER BY recorded_at"
    return [tuple(r.values()) for r in clients.bigquery_client(s).query(sql).result()]


def passed(run_id: str, as_of: datetime, s: Settings) -> None:
    feature_runs.mark_building(run_id, as_of, s)
    feature_runs.mark_verified(run_id, as_of, s)


def test_a_missing_log_is_closed_and_the_first_mark_creates_it_append_only(log: Settings) -> None:
    gate = feature_runs.read_gate(log)
    assert gate == feature_runs.Gate(verified_as_of=None, open_runs=0)
    assert not gate.ready_for(LIVE)
    with pytest.raises(NotFound):  # reading never creates it
        clients.bigquery_client(log).get_table(log.table_id(FEATURE_STORE_RUNS))

    record = feature_runs.mark_building("run-1", LIVE + timedelta(minutes=7), log)
    assert record.as_of == LIVE  # floored to 15 minutes, as dbt floors its as_of var
    table = clients.bigquery_client(log).get_table(log.table_id(FEATURE_STORE_RUNS))
    assert [f.name for f in table.schema] == [f.name for f in FEATURE_STORE_RUNS_SPEC.schema]
    assert not feature_runs.ready(LIVE, log)

    feature_runs.mark_verified("run-1", LIVE, log)
    feature_runs.mark_verified("run-1", LIVE, log)  # a retried last task appends again, harmlessly
    assert rows(log) == [("run-1", LIVE, "building"), ("run-1", LIVE, "verified"), ("run-1", LIVE, "verified")]
    gate = feature_runs.read_gate(log)
    assert gate.verified_as_of == LIVE
    assert gate.open_runs == 0
    assert gate.ready_for(LIVE)
    assert not gate.ready_for(LIVE + timedelta(hours=1))  # nothing verified that far yet


def test_a_running_failed_or_killed_run_holds_training_until_a_later_run_passes(log: Settings) -> None:
    passed("live-10:00", LIVE, log)
    assert feature_runs.ready(LIVE, log)

    feature_runs.mark_building("live-10:15", LIVE + QUARTER, log)  # building, then its dbt test fails
    gate = feature_runs.read_gate(log)
    assert not gate.ready_for(LIVE), "an open run holds training for earlier hours too: it rewrites their rows"
    assert (gate.open_runs, gate.open_run_id, gate.open_as_of) == (1, "live-10:15", LIVE + QUARTER)
    assert "live-10:15" in gate.explain(LIVE)

    feature_runs.mark_building("live-10:30", LIVE + 2 * QUARTER, log)  # the next run, still building
    assert feature_runs.read_gate(log).open_runs == 2
    feature_runs.mark_verified("live-10:30", LIVE + 2 * QUARTER, log)  # it passed: its tests covered 10:15 too
    gate = feature_runs.read_gate(log)
    assert gate.open_runs == 0
    assert gate.ready_for(LIVE)
    assert gate.verified_as_of == LIVE + 2 * QUARTER

    # a cleared and rerun run (same run id, building twice) that passes the second time
    feature_runs.mark_building("live-10:45", LIVE + 3 * QUARTER, log)
    feature_runs.mark_building("live-10:45", LIVE + 3 * QUARTER, log)
    assert not feature_runs.ready(LIVE, log)
    feature_runs.mark_verified("live-10:45", LIVE + 3 * QUARTER, log)
    assert feature_runs.ready(LIVE, log)


def test_a_backfill_closes_the_gate_while_it_builds_and_an_old_verified_as_of_reopens_it(log: Settings) -> None:
    passed("live-10:00", LIVE, log)
    old = LIVE - timedelta(hours=8)
    feature_runs.mark_building("backfill-02:00", old, log)
    assert not feature_runs.ready(LIVE, log)
    feature_runs.mark_verified("backfill-02:00", old, log)
    assert rows(log)[-1] == ("backfill-02:00", old, "verified")  # the newest row has an old as_of ...
    gate = feature_runs.read_gate(log)
    assert gate.ready_for(LIVE)  # ... and the current hour is still served: 10:00 was verified by its run
    assert gate.verified_as_of == LIVE
    assert not gate.ready_for(LIVE + timedelta(hours=1))

    feature_runs.mark_building("backfill-01:45", old - QUARTER, log)  # a failed (or killed) backfill run
    assert not feature_runs.ready(LIVE, log)
    passed("live-10:15", LIVE + QUARTER, log)  # the next live run passes: newer as_of, later in the log
    assert feature_runs.ready(LIVE, log)


def test_a_backfill_that_passes_does_not_hide_a_live_run_that_failed_before_it(log: Settings) -> None:
    passed("live-10:00", LIVE, log)
    feature_runs.mark_building("live-10:15", LIVE + QUARTER, log)  # its dbt test fails
    passed("backfill-02:00", LIVE - timedelta(hours=8), log)
    assert rows(log)[-1][-1] == "verified"  # "the newest row is verified" would open the gate here
    gate = feature_runs.read_gate(log)
    assert not gate.ready_for(LIVE)
    assert gate.open_run_id == "live-10:15"
    passed("live-10:15", LIVE + QUARTER, log)  # cleared and rerun after the data was fixed
    assert feature_runs.ready(LIVE, log)


def test_building_records_verified_only_when_the_block_finishes(log: Settings) -> None:
    with pytest.raises(RuntimeError), feature_runs.building("script-build", LIVE, log):
        raise RuntimeError("dbt build failed")
    assert rows(log) == [("script-build", LIVE, "building")]
    assert not feature_runs.ready(LIVE, log)
    with feature_runs.building("script-build-2", LIVE, log) as started:
        assert started.state == "building"
    assert rows(log)[-1] == ("script-build-2", LIVE, "verified")
    assert feature_runs.ready(LIVE, log)
