"""Trip files of both layouts, plain and zipped, become time-ordered events with stable ids."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from include.gcp.events import Event
from include.simulator.sources import month_files
from include.simulator.trips import REJECT_REASONS, RejectedRow, ReplayStats, Trip, events_from_files, read_trips
from tests.simulator.conftest import FILE_2019, FILE_2021, zipped


def test_2021_layout_rows_become_trips_in_utc_and_bad_rows_are_rejected_with_reasons() -> None:
    items = list(read_trips(FILE_2021))
    trips = [i for i in items if isinstance(i, Trip)]
    rejected = [i for i in items if isinstance(i, RejectedRow)]
    assert [t.trip_key for t in trips] == [f"A1B2C3D4E5F6000{n}" for n in (1, 2, 3, 8)]
    first = trips[0]
    assert (first.start_station, first.end_station) == ("JC005", "JC009")
    assert first.started_at == datetime(2021, 7, 1, 12, 0, 5, tzinfo=UTC)  # 08:00:05 EDT
    assert trips[1].start_station == "JC008"  # quoted name with a comma did not shift columns
    assert {(r.line, r.reason) for r in rejected} == {
        (5, "missing station"),
        (6, "end before start"),
        (7, "bad timestamp"),
        (8, "wrong column count"),
        (10, "missing station"),
    }
    assert {r.reason for r in rejected} <= set(REJECT_REASONS)


def test_2019_layout_reads_station_ids_times_and_rejects() -> None:
    stats = ReplayStats()
    events = events_from_files([FILE_2019], stats=stats)
    assert stats.trips == 10
    assert stats.rejected == {"missing station": 1, "end before start": 1}
    assert len(events) == stats.events == 20
    first = events[0]
    assert first.to_dict() == {
        "system_id": "citibike-jc",
        "event_id": first.event_id,
        "station_id": "3640",
        "ts_iso": "2019-09-01T04:00:37.692000Z",  # 00:00:37.692 EDT
        "kind": "pickup",
        "delta": 1,
    }


@pytest.mark.parametrize("source", [FILE_2019, FILE_2021])
def test_zipped_and_plain_files_give_the_same_events(source, tmp_path) -> None:
    assert events_from_files([zipped(source, tmp_path)]) == events_from_files([source])


def test_each_trip_gives_a_pickup_and_a_dropoff_in_event_time_order() -> None:
    events = events_from_files([FILE_2021])
    assert events == sorted(events)
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    kinds = Counter(e.kind for e in events)
    assert kinds == {"pickup": 4, "dropoff": 4}
    by_trip = {}
    for e in events:
        by_trip.setdefault(e.event_id[:-2], {})[e.kind] = e
    assert len(by_trip) == 4
    for pair in by_trip.values():
        assert pair["pickup"].ts <= pair["dropoff"].ts
    # trip 3 starts before trip 1 in the file's order but its dropoff is the latest event
    assert events[0].ts == datetime(2021, 7, 1, 11, 58, tzinfo=UTC)
    assert events[-1].ts == datetime(2021, 7, 1, 13, 30, tzinfo=UTC)


def test_ids_are_deterministic_across_reads_and_unique() -> None:
    first = [e.event_id for e in events_from_files([FILE_2019, FILE_2021])]
    second = [e.event_id for e in events_from_files([FILE_2019, FILE_2021])]
    assert first == second
    assert len(set(first)) == len(first)


def test_ids_of_a_real_month_are_stable_and_unique() -> None:
    window = (datetime(2019, 9, 1, 12, tzinfo=UTC), datetime(2019, 9, 1, 16, tzinfo=UTC))
    files = month_files("2019-09")
    first = events_from_files(files, *window)
    assert [e.event_id for e in first] == [e.event_id for e in events_from_files(files, *window)]
    assert len({e.event_id for e in first}) == len(first) == 499


def test_window_cuts_by_event_time_and_naive_bounds_are_utc() -> None:
    start, end = datetime(2021, 7, 1, 12, 5), datetime(2021, 7, 1, 13, 0)  # naive = UTC
    events = events_from_files([FILE_2021], start, end)
    assert events
    assert all(datetime(2021, 7, 1, 12, 5, tzinfo=UTC) <= e.ts < datetime(2021, 7, 1, 13, tzinfo=UTC) for e in events)
    everything = events_from_files([FILE_2021])
    assert events == [e for e in everything if start.replace(tzinfo=UTC) <= e.ts < end.replace(tzinfo=UTC)]
    # trip 2 was picked up before the window: only its dropoff is inside
    ids = {e.event_id for e in events}
    trip_2 = next(e for e in everything if e.ts == datetime(2021, 7, 1, 12, 3, 10, 512000, tzinfo=UTC))
    assert trip_2.event_id not in ids
    assert trip_2.event_id[:-1] + "d" in ids


def test_event_json_is_the_contract() -> None:
    event = Event(datetime(2019, 9, 1, 4, 0, 37, 692000, tzinfo=UTC), "abc-p", "3640", "pickup")
    assert event.to_json() == (
        b'{"system_id":"citibike-jc","event_id":"abc-p","station_id":"3640",'
        b'"ts_iso":"2019-09-01T04:00:37.692000Z","kind":"pickup","delta":1}'
    )
