"""An existing dead-letter table gains the columns the spec added, keeps its rows, and still takes inserts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from google.cloud import bigquery

from include.gcp import clients, resources
from include.gcp.events import DEFAULT_LIMITS
from include.gcp.settings import Settings
from include.gcp.tables import RAW_EVENTS_DEAD_LETTER_SPEC, RAW_EVENTS_SPEC
from include.simulator.trips import Trip

pytestmark = pytest.mark.integration
OLD_COLUMNS = ("payload", "error", "received_at")


@pytest.fixture
def old_table(test_settings: Settings) -> str:
    """The dead-letter table as created before reason / event_id / message_id existed, with two rows."""
    old = replace(
        RAW_EVENTS_DEAD_LETTER_SPEC,
        name="dl_migration",
        schema=tuple(f for f in RAW_EVENTS_DEAD_LETTER_SPEC.schema if f.name in OLD_COLUMNS),
    )
    client = clients.bigquery_client(test_settings)
    table_id = test_settings.table_id(old.name)
    client.delete_table(table_id, not_found_ok=True)
    client.create_table(old.to_table(table_id))
    rows = [{"payload": p, "error": "bad_json: x", "received_at": "2019-09-01T08:00:00Z"} for p in ("{", "[")]
    assert client.insert_rows_json(table_id, rows) == []
    return table_id


def _spec() -> object:
    return replace(RAW_EVENTS_DEAD_LETTER_SPEC, name="dl_migration")


def _check(client: bigquery.Client, table_id: str) -> None:
    assert [f.name for f in client.get_table(table_id).schema] == [f.name for f in RAW_EVENTS_DEAD_LETTER_SPEC.schema]
    new = {"payload": "]", "error": "bad_json: y", "received_at": "2019-09-01T09:00:00Z", "reason": "bad_json"}
    assert client.insert_rows_json(table_id, [{**new, "message_id": "m1"}]) == []
    got = sorted((r.payload, r.reason) for r in client.query(f"SELECT * FROM `{table_id}`").result())
    assert got == [("[", None), ("]", "bad_json"), ("{", None)]
    assert not [t for t in client.list_tables(table_id.rsplit(".", 1)[0]) if t.table_id.endswith("__migrating")]


def test_missing_columns_are_added_and_rows_kept(test_settings: Settings, old_table: str) -> None:
    client = clients.bigquery_client(test_settings)
    outcome = resources.ensure_table(_spec(), test_settings)
    assert not outcome.created
    assert "added reason, event_id, message_id" in outcome.name
    _check(client, old_table)
    assert "added" not in resources.ensure_table(_spec(), test_settings).name  # a second call changes nothing


@pytest.mark.parametrize("killed_after", ["copy", "drop", "recreate", "refill"])
def test_a_killed_migration_is_finished_by_the_next_call(
    test_settings: Settings, old_table: str, killed_after: str
) -> None:
    client = clients.bigquery_client(test_settings)
    copy_id = f"{old_table}__migrating"
    client.query(f"CREATE TABLE `{copy_id}` AS SELECT * FROM `{old_table}`").result()
    if killed_after in ("drop", "recreate", "refill"):
        client.delete_table(old_table)
    if killed_after in ("recreate", "refill"):
        client.create_table(_spec().to_table(old_table))
    if killed_after == "refill":
        client.query(f"INSERT INTO `{old_table}` (payload, error, received_at) SELECT * FROM `{copy_id}`").result()
    resources.ensure_table(_spec(), test_settings)
    _check(client, old_table)


def test_raw_events_before_systems_become_jersey_citys_nothing_lost_nothing_doubled(test_settings: Settings) -> None:
    """Real trip events in raw_events as it was before system_id: after the migration every row is
    citibike-jc's, the counts and ids are the same, a second run changes nothing, and new rows carry their system."""
    spec = replace(RAW_EVENTS_SPEC, name="raw_migration")
    old = replace(spec, schema=tuple(f for f in spec.schema if f.name != "system_id"), fill_added=())
    client = clients.bigquery_client(test_settings)
    table_id = test_settings.table_id(spec.name)
    client.delete_table(table_id, not_found_ok=True)
    client.create_table(old.to_table(table_id))
    t0 = datetime(2019, 9, 1, 8, tzinfo=UTC)
    trips = [Trip(f"k{i}", "3186", "3183", t0 + timedelta(minutes=i), t0 + timedelta(minutes=i + 9)) for i in range(40)]
    rows = [{k: v for k, v in e.to_dict().items() if k != "system_id"} for t in trips for e in t.events()]
    assert client.insert_rows_json(table_id, rows) == []
    before = sorted(r["event_id"] for r in rows)

    outcome = resources.ensure_table(spec, test_settings)
    assert "added system_id" in outcome.name
    got = list(client.query(f"SELECT system_id, event_id FROM `{table_id}`").result())
    assert sorted(r.event_id for r in got) == before  # nothing lost, nothing doubled
    assert {r.system_id for r in got} == {"citibike-jc"}
    assert "added" not in resources.ensure_table(spec, test_settings).name  # a second run is a no-op
    assert len(list(client.query(f"SELECT event_id FROM `{table_id}`").result())) == len(before)
    new = {**rows[0], "event_id": "new-p", "system_id": "phx"}
    assert client.insert_rows_json(table_id, [new]) == []
    systems = {r.system_id for r in client.query(f"SELECT system_id FROM `{table_id}`").result()}
    assert systems == {"citibike-jc", "phx"}
    assert DEFAULT_LIMITS.known_systems() == frozenset({"citibike-jc"})
