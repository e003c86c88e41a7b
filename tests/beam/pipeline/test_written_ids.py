"""WrittenIds on its own: days loaded once on first need, copies found across the window, eviction."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from include.beam.pipeline.written_ids import WrittenIds, day_bounds, days_between
from include.gcp.events import Event

TS = datetime(2019, 9, 9, 8, 30, tzinfo=UTC)


def event(event_id: str, ts: datetime = TS, station: str = "3186") -> Event:
    return Event(ts=ts, event_id=event_id, station_id=station, kind="pickup")


class Table:
    """raw_events by day, counting the day loads."""

    def __init__(self, *events: Event) -> None:
        self.events = list(events)
        self.loaded: list[date] = []

    def load(self, day: date) -> dict[str, int]:
        self.loaded.append(day)
        start, end = day_bounds(day)
        return {e.key: e.fingerprint() for e in self.events if start <= e.ts < end}


def window(clock: datetime = TS) -> list[date]:
    return days_between(clock - timedelta(hours=48), clock + timedelta(minutes=5))


def test_days_between_and_day_bounds() -> None:
    assert days_between(datetime(2019, 9, 7, 8, 30, tzinfo=UTC), TS) == [date(2019, 9, d) for d in (7, 8, 9)]
    assert day_bounds(date(2019, 9, 9)) == (datetime(2019, 9, 9, tzinfo=UTC), datetime(2019, 9, 10, tzinfo=UTC))


def test_a_copy_of_a_written_id_is_found_on_any_day_of_its_window_and_each_day_loads_once() -> None:
    written = event("w1", TS - timedelta(days=1))  # written yesterday by an earlier job
    table = Table(written)
    ids = WrittenIds(table.load)
    assert ids.claim(written, window()) == written.fingerprint()  # an identical copy
    conflicting = event("w1", TS, station="9999")  # same id, another time and station
    assert ids.claim(conflicting, window()) == written.fingerprint() != conflicting.fingerprint()
    assert sorted(table.loaded) == [date(2019, 9, 7), date(2019, 9, 8), date(2019, 9, 9)]
    assert ids.loads == 3


def test_the_first_copy_is_claimed_and_every_later_one_finds_it() -> None:
    table = Table()
    ids = WrittenIds(table.load)
    first = event("n1")
    assert ids.claim(first, window()) is None
    assert ids.claim(first, window()) == first.fingerprint()
    assert ids.claim(event("n1", station="1"), window()) == first.fingerprint()
    assert ids.held()[TS.date()] == 1


def test_an_id_outside_the_window_is_not_looked_for() -> None:
    old = event("o1", TS - timedelta(days=5))
    ids = WrittenIds(Table(old).load)
    assert ids.claim(event("o1"), window()) is None  # its first row is older than the late window


def test_the_least_recently_needed_days_are_evicted_and_reloaded_when_needed_again() -> None:
    written = event("w1")
    table = Table(written)
    ids = WrittenIds(table.load, max_days=3)
    assert ids.claim(written, window()) == written.fingerprint()
    later = TS + timedelta(days=10)
    assert ids.claim(event("x1", later), window(later)) is None  # a replay that jumped ahead
    assert len(ids.held()) == 3
    assert TS.date() not in ids.held()
    assert ids.claim(written, window()) == written.fingerprint()  # reloaded from the table
    assert table.loaded.count(TS.date()) == 2
    with pytest.raises(ValueError, match="max_days"):
        WrittenIds(table.load, max_days=0)
