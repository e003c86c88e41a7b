"""The history loader on the local stack: real trips into raw_events, and a rerun adds nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from include.gcp import clients, resources
from include.gcp.events import Event
from include.gcp.raw_events import load_raw_events
from include.gcp.settings import Settings
from include.gcp.tables import RAW_EVENTS, RAW_EVENTS_SPEC
from include.simulator import history
from include.simulator.history import load_history
from include.simulator.sources import month_files
from include.simulator.trips import events_from_files

pytestmark = pytest.mark.integration

START = datetime(2019, 9, 2, 12, tzinfo=UTC)
END = datetime(2019, 9, 2, 18, tzinfo=UTC)


@pytest.fixture
def dataset(local_stack: Settings):
    s = local_stack.with_names(dataset=f"history_{uuid.uuid4().hex[:8]}")
    yield s
    clients.bigquery_client(s).delete_dataset(s.dataset, delete_contents=True, not_found_ok=True)


def raw_event_ids(s: Settings) -> list[str]:
    sql = f"select event_id from `{s.table_id(RAW_EVENTS)}` order by event_id"
    return [r.event_id for r in clients.bigquery_client(s).query(sql).result()]


def test_loads_the_window_once_even_when_rerun_or_overlapping(dataset: Settings) -> None:
    expected = sorted(e.event_id for e in events_from_files(month_files("2019-09", dataset.trips_data_dir), START, END))
    first = load_history(["2019-09"], start=START, end=END, settings=dataset)
    assert first.events == first.inserted == len(expected) > 100
    assert raw_event_ids(dataset) == expected

    again = load_history(["2019-09"], start=START, end=END, settings=dataset)
    assert (again.events, again.inserted) == (len(expected), 0)
    wider = load_history(["2019-09"], start=START, end=datetime(2019, 9, 2, 19, tzinfo=UTC), settings=dataset)
    assert wider.inserted == wider.events - len(expected) > 0
    assert len(set(raw_event_ids(dataset))) == len(raw_event_ids(dataset)) == wider.events


def test_a_file_given_twice_loads_once_and_bad_events_are_counted_not_loaded(
    dataset: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = month_files("2019-09", dataset.trips_data_dir)[0]
    expected = {e.event_id for e in events_from_files([path], START, END)}
    result = load_history(files=[str(path), str(path)], start=START, end=END, settings=dataset)
    assert result.duplicates_in_input == len(expected)
    ids = raw_event_ids(dataset)
    assert len(ids) == len(set(ids)) == len(expected) == result.inserted

    # the contract without its time window: a station id of the wrong form is refused, counted
    real = history.events_from_files

    def with_a_bad_station(*args: object, **kwargs: object) -> list[Event]:
        loaded = real(*args, **kwargs)
        return [*loaded, Event(START, "bad-station-1", "not a station id", "pickup")]

    monkeypatch.setattr(history, "events_from_files", with_a_bad_station)
    again = load_history(files=[str(path)], start=START, end=END, settings=dataset)
    assert (again.inserted, again.rejected_events) == (0, {"bad_station_id": 1})
    assert "bad-station-1" not in raw_event_ids(dataset)


def test_the_merge_deduplicates_its_staging_side(dataset: Settings) -> None:
    """Even rows that reach the staging table twice (a loader bug, a retried load job) merge once."""
    resources.ensure_bigquery(dataset)
    staging = dataset.table_id(f"{history.STAGING_PREFIX}dupes")
    bq = clients.bigquery_client(dataset)
    bq.create_table(RAW_EVENTS_SPEC.to_table(staging))
    row = {"event_id": "twice", "station_id": "3186", "ts_iso": "2019-09-02T12:00:00Z", "kind": "pickup", "delta": 1}
    load_raw_events([row, row], dataset, table=staging.rsplit(".", 1)[-1])
    bq.query(history.merge_sql(dataset.table_id(RAW_EVENTS), staging)).result()
    assert raw_event_ids(dataset) == ["twice"]


def test_a_killed_loads_staging_table_is_dropped_by_the_next_load(dataset: Settings) -> None:
    resources.ensure_bigquery(dataset)
    bq = clients.bigquery_client(dataset)
    leftover = dataset.table_id(f"{history.STAGING_PREFIX}killed")
    bq.create_table(RAW_EVENTS_SPEC.to_table(leftover))
    assert history.drop_stale_staging(bq, dataset) == []  # too young: it may be a load still running
    later = datetime.now(UTC) + history.STALE_STAGING + timedelta(minutes=1)
    assert history.drop_stale_staging(bq, dataset, now=later) == [f"{history.STAGING_PREFIX}killed"]
    result = load_history(["2019-09"], start=START, end=END, settings=dataset)
    assert result.inserted > 100
    assert not [t for t in bq.list_tables(dataset.dataset) if t.table_id.startswith(history.STAGING_PREFIX)]


def test_a_synthetic_country_loads_through_the_same_path_keyed_by_system(
    dataset: Settings, tmp_path, monkeypatch
) -> None:
    """Two synthetic systems whose stations share ids: their events land in raw_events apart, once per
    (system_id, event_id); a rerun adds nothing; a system missing from the systems table is refused."""
    from include.simulator.country import CountrySpec, country_events, country_systems, write_systems_csv

    spec = CountrySpec(2, 20, seed=3)
    monkeypatch.setenv("BIKESHARE_SYSTEMS_FILE", str(write_systems_csv(country_systems(spec), tmp_path / "s.csv")))
    events = country_events(spec, START, START + timedelta(hours=1))
    loaded = history.load_events(events, dataset)
    assert (loaded.events, loaded.inserted, loaded.rejected_events) == (len(events), len(events), {})
    sql = f"select system_id, count(*) as n from `{dataset.table_id(RAW_EVENTS)}` group by system_id"
    got = {r.system_id: r.n for r in clients.bigquery_client(dataset).query(sql).result()}
    assert got == {sid: sum(e.system_id == sid for e in events) for sid in spec.system_ids}
    assert history.load_events(events, dataset).inserted == 0  # rerun: nothing doubled

    monkeypatch.setenv(
        "BIKESHARE_SYSTEMS_FILE", str(write_systems_csv(country_systems(spec)[:1], tmp_path / "one.csv"))
    )
    refused = history.load_events(events, dataset)
    assert refused.rejected_events == {"unknown_system": sum(e.system_id == "syn-02" for e in events)}
