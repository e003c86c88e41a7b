"""The event_ids raw_events holds, by day of event time: what a restarted job must not write again.

A job's in-memory dedupe (:class:`~include.beam.pipeline.transforms.DedupeByEventId`) starts empty, so
after a drain, a kill -9 or under a new job name, a copy of an event the earlier job wrote (a replay, a
gateway resending, a publisher retry) would become a second row. :class:`WrittenIds` holds, for the
UTC days of event time a copy could still be accepted on (the late-event window around the ingest
clock), every event_id of those days with its content fingerprint: loaded from raw_events the first
time a day is needed (one query per day, partition-pruned on BigQuery), then kept up to date with the
ids this process passes on to be written. One per table and process, shared by every DoFn instance
(the DirectRunner runs several in threads).

Cost: one dict entry per id of the days held (measured by ``benchmarks/written_ids.py``); at most
``max_days`` days are held, the least recently needed evicted first (a day needed again is reloaded).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta

from include.gcp.events import Event

DayLoader = Callable[[date], dict[str, int]]  # day → {system_id/event_id: fingerprint} of raw_events' rows that day


def days_between(start: datetime, end: datetime) -> list[date]:
    """The UTC days ``[start, end]`` touches, in order."""
    first, last = start.astimezone(UTC).date(), end.astimezone(UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """``[00:00, next 00:00)`` UTC of ``day``: the partition a day load reads."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


class WrittenIds:
    """event_id → fingerprint by day of event time, loaded on first need. Thread-safe."""

    def __init__(self, load: DayLoader, max_days: int = 8) -> None:
        if max_days < 1:
            raise ValueError(f"max_days must be positive, got {max_days}")
        self._load = load
        self.max_days = max_days
        self._days: OrderedDict[date, dict[str, int]] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # day loads so far (queries)

    def claim(self, event: Event, window: Iterable[date], on_first: Callable[[], None] | None = None) -> int | None:
        """The fingerprint of an earlier copy of ``event``'s id on the days of ``window``, or None:
        then ``event`` is recorded as the first copy (on its own day), and later copies find it.
        ``on_first`` runs under the same lock when it is the first (registering its acknowledgement
        before any copy can be seen)."""
        own = event.ts.astimezone(UTC).date()
        days = list(dict.fromkeys([*window, own]))
        with self._lock:
            for day in days:
                self._hold(day)
            for day in days:
                fingerprint = self._days[day].get(event.key)
                if fingerprint is not None:
                    return fingerprint
            self._days[own][event.key] = event.fingerprint()
            if on_first is not None:
                on_first()
            self._evict(keep=set(days))
        return None

    def held(self) -> dict[date, int]:
        """Ids held per day (for tests and the benchmark)."""
        with self._lock:
            return {day: len(ids) for day, ids in self._days.items()}

    def _hold(self, day: date) -> None:
        if day in self._days:
            self._days.move_to_end(day)
            return
        self._days[day] = self._load(day)
        self.loads += 1

    def _evict(self, keep: set[date]) -> None:
        for day in list(self._days):
            if len(self._days) <= self.max_days:
                return
            if day not in keep:
                del self._days[day]


_SHARED: dict[str, WrittenIds] = {}
_SHARED_LOCK = threading.Lock()


def shared(table: str, load: DayLoader, max_days: int = 8) -> WrittenIds:
    """The process's one :class:`WrittenIds` for ``table`` (created with ``load`` on first call)."""
    with _SHARED_LOCK:
        if table not in _SHARED:
            _SHARED[table] = WrittenIds(load, max_days)
        return _SHARED[table]


def forget_all() -> None:
    """Drop every process-wide cache (tests: a new job in the same process starts empty)."""
    with _SHARED_LOCK:
        _SHARED.clear()
