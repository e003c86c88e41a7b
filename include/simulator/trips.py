"""Citi Bike trip files → pickup/dropoff events (:class:`include.gcp.events.Event`, the event contract).

Reads zipped or plain CSV in both layouts Citi Bike has published:
- 2019 (``tripduration, starttime, stoptime, start station id, …, bikeid, …``), local New York time;
- 2021+ (``ride_id, rideable_type, started_at, ended_at, start_station_id, end_station_id, …``).
Each usable trip yields a pickup at its start station and time and a dropoff at its end station and
time. Event ids are derived from the trip, so replaying a file twice yields the same ids. Rows that
cannot be used are returned as :class:`RejectedRow` with a reason, never dropped silently.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from include.gcp.events import Event
from include.systems import DEFAULT_SYSTEM

CITIBIKE_TZ = ZoneInfo("America/New_York")  # trip files carry local wall-clock times


@dataclass(frozen=True)
class Trip:
    trip_key: str
    start_station: str
    end_station: str
    started_at: datetime  # UTC
    ended_at: datetime  # UTC
    system_id: str = DEFAULT_SYSTEM

    def events(self) -> tuple[Event, Event]:
        """Its pickup and dropoff; ids hash the trip key only, unique within the system."""
        digest = hashlib.sha1(self.trip_key.encode()).hexdigest()[:20]
        return (
            Event(self.started_at, f"{digest}-p", self.start_station, "pickup", system_id=self.system_id),
            Event(self.ended_at, f"{digest}-d", self.end_station, "dropoff", system_id=self.system_id),
        )


REJECT_REASONS = ("wrong column count", "bad timestamp", "missing station", "end before start")


@dataclass(frozen=True)
class RejectedRow:
    """A row that yields no events; ``reason`` is one of :data:`REJECT_REASONS`."""

    source: str
    line: int
    reason: str


_LAYOUTS = {
    # layout: (start time, end time, start station, end station, fields of the trip key)
    "2019": (
        "starttime",
        "stoptime",
        "start station id",
        "end station id",
        ("bikeid", "starttime", "start station id"),
    ),
    "2021": ("started_at", "ended_at", "start_station_id", "end_station_id", ("ride_id",)),
}


def detect_layout(header: Iterable[str]) -> str:
    columns = {c.strip().lower() for c in header}
    for name, (start, end, start_station, end_station, _) in _LAYOUTS.items():
        if {start, end, start_station, end_station} <= columns:
            return name
    raise ValueError(f"not a Citi Bike trip file: unknown columns {sorted(columns)}")


def _parse_local(value: str) -> datetime:
    """A trip file timestamp (local New York wall-clock time, fractional seconds optional) in UTC."""
    value = value.strip()
    if not value:
        raise ValueError("bad timestamp")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("bad timestamp") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CITIBIKE_TZ)
    return parsed.astimezone(UTC)


def as_utc(moment: datetime | None) -> datetime | None:
    """Window bounds in UTC; a naive time is taken as UTC (the event stream's time zone)."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _station(value: str | None) -> str:
    value = (value or "").strip()
    if value.endswith(".0"):  # some exports write integer ids as floats
        value = value[:-2]
    if not value or value.upper() in ("NULL", "NAN"):
        raise ValueError("missing station")
    return value


def _open_text(path: Path) -> Iterator[tuple[str, io.TextIOBase]]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            for name in sorted(archive.namelist()):
                if name.lower().endswith(".csv") and not name.startswith("__MACOSX"):
                    with archive.open(name) as raw:
                        yield f"{path.name}:{name}", io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    else:
        with path.open(encoding="utf-8-sig", newline="") as text:
            yield path.name, text


def read_trips(path: str | Path) -> Iterator[Trip | RejectedRow]:
    """Every row of a trip file as a :class:`Trip` or, if unusable, a :class:`RejectedRow`."""
    for source, text in _open_text(Path(path)):
        reader = csv.reader(text)
        header = [c.strip().lower() for c in next(reader, [])]
        start_col, end_col, start_st, end_st, key_cols = _LAYOUTS[detect_layout(header)]
        index = {name: i for i, name in enumerate(header)}
        for line, row in enumerate(reader, start=2):
            if len(row) != len(header):
                yield RejectedRow(source, line, "wrong column count")
                continue
            try:
                started = _parse_local(row[index[start_col]])
                ended = _parse_local(row[index[end_col]])
                start_station = _station(row[index[start_st]])
                end_station = _station(row[index[end_st]])
            except ValueError as err:
                yield RejectedRow(source, line, str(err))
                continue
            if ended < started:
                yield RejectedRow(source, line, "end before start")
                continue
            key = "|".join(row[index[c]].strip() for c in key_cols)
            yield Trip(key, start_station, end_station, started, ended)


@dataclass
class ReplayStats:
    """What a read produced: usable trips, events, and rejected rows by reason."""

    trips: int = 0
    events: int = 0
    rejected: dict[str, int] | None = None

    def reject(self, reason: str) -> None:
        self.rejected = self.rejected or {}
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    @property
    def rejected_total(self) -> int:
        return sum((self.rejected or {}).values())


def events_from_files(
    paths: Iterable[str | Path],
    start: datetime | None = None,
    end: datetime | None = None,
    stats: ReplayStats | None = None,
) -> list[Event]:
    """All events of the files with ``start <= ts < end``, in event-time order.

    A trip whose pickup is before ``start`` but whose dropoff is inside the window contributes only
    its dropoff (the event stream is cut by event time, as a live sensor feed would be). Naive
    bounds are UTC. Rejected rows are counted by reason in ``stats``.
    """
    stats = stats if stats is not None else ReplayStats()
    start, end = as_utc(start), as_utc(end)
    events: list[Event] = []
    for path in paths:
        for item in read_trips(path):
            if isinstance(item, RejectedRow):
                stats.reject(item.reason)
                continue
            stats.trips += 1
            for event in item.events():
                if (start is None or event.ts >= start) and (end is None or event.ts < end):
                    events.append(event)
    events.sort()
    stats.events = len(events)
    return events
