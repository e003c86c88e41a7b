"""The GBFS v2.3 feed contract: payloads in, valid rows or dead letters with a reason out. Pure; never raises.

Three files matter (field names of GBFS v2.3, https://github.com/MobilityData/gbfs/blob/v2.3/gbfs.md):

- ``gbfs.json``, the auto-discovery file: ``data.<language>.feeds[] = {name, url}``; we need the URLs of
  ``station_information`` and ``station_status``.
- ``station_information.json``: ``data.stations[]`` with ``station_id``, ``name``, ``lat``, ``lon`` and the
  optional ``capacity``.
- ``station_status.json``: ``data.stations[]`` with ``station_id``, ``num_bikes_available``,
  ``num_docks_available`` (optional: unlimited docking), ``is_installed``, ``is_renting``, ``is_returning``,
  ``last_reported``.

Every file carries ``last_updated`` (POSIX seconds), ``ttl`` (seconds until it changes; 0: always refresh) and
``version``. Fields outside the spec are ignored, not refused (GBFS allows extensions; Citi Bike's feed has
many). Booleans may also be the integers 0 / 1 (the v1.x form, still seen in the wild).

A file that cannot be read (transport, JSON, top-level schema) is one dead letter; a bad station is one dead
letter and the file's other stations still count, so one broken dock never blanks the fleet. Reason codes
(:data:`REASONS`) are stable: the dead-letter table's ``reason``. :func:`read_discovery`,
:func:`read_information` and :func:`read_status` never raise; property tests feed them arbitrary bytes and
JSON (``tests/gbfs/test_feed.py``).

**Time.** A status row is checked against a clock: the wall clock (the gcp profile), or the feed's own
``last_updated`` (``clock=None``, the local profile, whose feed lives in the replay's time). A
``last_reported`` further ahead of that clock than ``max_lead`` is ``reported_in_future``; one older than the
newest stored for the station is ``reported_before_stored``; one equal to it is unchanged (not a new row);
one older than ``clock - lookback`` is *stale* (counted, not stored: a station silent that long is out of
service, and the dedupe reads only the lookback's partitions).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from include.gcp.events import format_ts, quote, writable

GBFS, STATION_INFORMATION, STATION_STATUS = "gbfs", "station_information", "station_status"
FEEDS: tuple[str, ...] = (GBFS, STATION_INFORMATION, STATION_STATUS)
MAX_FEED_BYTES = 32 * 1024 * 1024  # Citi Bike's ~2,000 stations: ~1 MB of station_information
MAX_PAYLOAD_CHARS = 100_000  # a dead letter keeps this much of what it refused
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second BigQuery stores
ID_PATTERN = re.compile(r"[!-~]{1,64}")  # GBFS ID: no spaces; printable ASCII, at most 64 characters here

REASONS: dict[str, str] = {
    "http_error": "the server answered with an HTTP error status, or the connection failed",
    "timeout": "no complete answer within the timeout",
    "too_large": f"the file is over {MAX_FEED_BYTES} bytes",
    "bad_json": "not UTF-8, or not strict JSON (no NaN or Infinity, no key twice in an object)",
    "schema": "a required field is missing or of the wrong type or range (the file, or one station)",
    "duplicate_station": "the same station_id more than once in one file (every copy refused)",
    "negative_count": "a bike or dock count, or the capacity, is negative",
    "bikes_over_capacity": "num_bikes_available is larger than the station's capacity",
    "reported_in_future": "last_reported (or the file's last_updated) is ahead of the clock by more than the limit",
    "reported_before_stored": "last_reported is older than the newest status stored for the station",
    "write_failed": "BigQuery refused the row",
    "unexpected_error": "the validator itself failed (a bug): the exception is in the detail",
}


class FeedError(ValueError):
    """A file or a station that breaks the contract; ``code`` is one of :data:`REASONS`."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class DeadLetter:
    """Why a file or a station was refused, and what was refused (cut to :data:`MAX_PAYLOAD_CHARS`)."""

    feed: str
    reason: str
    detail: str
    payload: str = ""
    station_id: str | None = None

    def row(self, url: str, received_at: datetime) -> dict[str, Any]:
        """The ``gbfs_dead_letters`` row (include/gcp/tables.py); every text field writable."""
        return {
            "feed": self.feed,
            "url": writable(url),
            "reason": self.reason,
            "detail": writable(self.detail),
            "payload": writable(self.payload),
            "station_id": None if self.station_id is None else writable(self.station_id),
            "received_at": format_ts(received_at),
        }


@dataclass(frozen=True)
class FeedMeta:
    """The header every GBFS file has."""

    last_updated: datetime
    ttl: int
    version: str | None


@dataclass(frozen=True)
class StationInformation:
    station_id: str
    name: str
    lat: float
    lon: float
    capacity: int | None  # None: the feed does not publish it

    def row(self, fetched_at: datetime) -> dict[str, Any]:
        return {
            "station_id": self.station_id,
            "name": writable(self.name),
            "lat": self.lat,
            "lon": self.lon,
            "capacity": self.capacity,
            "fetched_at": format_ts(fetched_at),
        }


@dataclass(frozen=True)
class StationStatus:
    station_id: str
    last_reported: datetime
    num_bikes_available: int
    num_docks_available: int | None  # None: unlimited docking (GBFS: a valet station)
    is_installed: bool
    is_renting: bool
    is_returning: bool

    def row(self, fetched_at: datetime) -> dict[str, Any]:
        """The ``station_status`` row; its key is (station_id, last_reported)."""
        return {
            "station_id": self.station_id,
            "last_reported": format_ts(self.last_reported),
            "num_bikes_available": self.num_bikes_available,
            "num_docks_available": self.num_docks_available,
            "is_installed": self.is_installed,
            "is_renting": self.is_renting,
            "is_returning": self.is_returning,
            "fetched_at": format_ts(fetched_at),
        }


@dataclass(frozen=True)
class Discovery:
    meta: FeedMeta
    urls: dict[str, str]  # feed name -> URL, for the language chosen


@dataclass
class InformationResult:
    meta: FeedMeta | None  # None: the file was refused as a whole (its dead letter is in dead_letters)
    stations: list[StationInformation] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


@dataclass
class StatusResult:
    meta: FeedMeta | None  # None: the file was refused as a whole
    rows: list[StationStatus] = field(default_factory=list)  # new: to be stored
    unchanged: int = 0  # the stored (station_id, last_reported): not stored again
    stale: int = 0  # older than the lookback: not stored
    unknown_stations: list[str] = field(default_factory=list)  # no capacity known: stored, a warning
    dead_letters: list[DeadLetter] = field(default_factory=list)


# --- reading -------------------------------------------------------------------------------------------


def load_json(body: bytes) -> Any:
    """Strict JSON (RFC 8259): UTF-8, no NaN / Infinity, no key twice in an object; else :class:`FeedError`."""
    if len(body) > MAX_FEED_BYTES:
        raise FeedError("too_large", f"{len(body)} bytes, limit {MAX_FEED_BYTES}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise FeedError("bad_json", f"not UTF-8: {err}") from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise FeedError("bad_json", "nested too deeply") from None
    except ValueError as err:  # JSONDecodeError, the hooks' refusals, integers past the conversion limit
        raise FeedError("bad_json", str(err)) from None


def read_meta(doc: Any) -> FeedMeta:
    """The header (``last_updated``, ``ttl``, ``version``) of a decoded file; its ``data`` must be an object."""
    if not isinstance(doc, dict):
        raise FeedError("schema", f"the file is not a JSON object but {type(doc).__name__}")
    last_updated = _timestamp(doc.get("last_updated"), "last_updated")
    ttl = doc.get("ttl")
    if not _is_int(ttl) or ttl < 0:
        raise FeedError("schema", f"ttl must be a non-negative integer, got {quote(ttl)}")
    version = doc.get("version")
    if version is not None and not isinstance(version, str):
        raise FeedError("schema", f"version must be a string, got {quote(version)}")
    if not isinstance(doc.get("data"), dict):
        raise FeedError("schema", f"data must be an object, got {quote(doc.get('data'), 80)}")
    return FeedMeta(last_updated, ttl, version)


def parse_discovery(body: bytes, language: str = "en") -> Discovery:
    """The feed URLs of ``gbfs.json`` in ``language`` (else English, else the first); raises :class:`FeedError`."""
    doc = load_json(body)
    meta = read_meta(doc)
    data = doc["data"]
    if not data:
        raise FeedError("schema", "data lists no language")
    chosen = language if language in data else "en" if "en" in data else next(iter(data))
    feeds = data[chosen].get("feeds") if isinstance(data[chosen], dict) else None
    if not isinstance(feeds, list):
        raise FeedError("schema", f"data.{quote(chosen)}.feeds must be an array")
    urls: dict[str, str] = {}
    for entry in feeds:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise FeedError("schema", f"a feed entry needs a name and a url, got {quote(entry, 120)}")
        url = entry.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise FeedError("schema", f"feed {quote(entry['name'])} has no http(s) url: {quote(url)}")
        urls[entry["name"]] = url
    missing = [name for name in (STATION_INFORMATION, STATION_STATUS) if name not in urls]
    if missing:
        raise FeedError("schema", f"gbfs.json lists no {', '.join(missing)} feed")
    return Discovery(meta, urls)


def read_discovery(body: bytes, language: str = "en") -> Discovery | DeadLetter:
    """:func:`parse_discovery`, or the dead letter of the file; never raises."""
    try:
        return parse_discovery(body, language)
    except FeedError as err:
        return DeadLetter(GBFS, err.code, err.detail, _payload(body))
    except Exception as err:  # a bug here must not stop the poll either
        return DeadLetter(GBFS, "unexpected_error", f"{type(err).__name__}: {quote(str(err))}", _payload(body))


def read_information(body: bytes) -> InformationResult:
    """The valid stations of ``station_information.json`` and a dead letter per refused one; never raises."""
    try:
        doc = load_json(body)
        meta = read_meta(doc)
        records = _stations(doc)
        result = InformationResult(meta)
        for record, duplicate in _with_duplicates(records):
            try:
                if duplicate:
                    raise FeedError("duplicate_station", f"station_id {quote(record['station_id'])} is listed twice")
                result.stations.append(_information(record))
            except FeedError as err:
                result.dead_letters.append(_station_letter(STATION_INFORMATION, err, record))
        return result
    except FeedError as err:
        return InformationResult(
            None, dead_letters=[DeadLetter(STATION_INFORMATION, err.code, err.detail, _payload(body))]
        )
    except Exception as err:
        detail = f"{type(err).__name__}: {quote(str(err))}"
        return InformationResult(
            None, dead_letters=[DeadLetter(STATION_INFORMATION, "unexpected_error", detail, _payload(body))]
        )


def read_status(
    body: bytes,
    *,
    capacity: Mapping[str, int | None],
    stored: Mapping[str, datetime],
    clock: datetime | None,
    max_lead: timedelta = timedelta(minutes=5),
    lookback: timedelta = timedelta(hours=48),
) -> StatusResult:
    """The new rows of ``station_status.json`` and a dead letter per refused station; never raises.

    ``capacity``: station_id -> capacity (None or absent: unknown, no capacity check, a warning);
    ``stored``: station_id -> the newest ``last_reported`` stored (within the lookback);
    ``clock``: the wall clock, or None for the feed's own ``last_updated`` (module docstring).
    """
    try:
        doc = load_json(body)
        meta = read_meta(doc)
        now = meta.last_updated if clock is None else clock
        if clock is not None and meta.last_updated - clock > max_lead:
            raise FeedError(
                "reported_in_future",
                f"last_updated {format_ts(meta.last_updated)} is more than {max_lead} after {format_ts(clock)}",
            )
        records = _stations(doc)
        result = StatusResult(meta)
        since = now - lookback
        unknown: set[str] = set()
        for record, duplicate in _with_duplicates(records):
            try:
                if duplicate:
                    raise FeedError("duplicate_station", f"station_id {quote(record['station_id'])} is listed twice")
                row = _status(record, capacity)
                if row.last_reported - now > max_lead:
                    raise FeedError(
                        "reported_in_future",
                        f"last_reported {format_ts(row.last_reported)} is more than {max_lead} after {format_ts(now)}",
                    )
                newest = stored.get(row.station_id)
                if newest is not None and row.last_reported < newest:
                    raise FeedError(
                        "reported_before_stored",
                        f"last_reported {format_ts(row.last_reported)} is before the stored {format_ts(newest)}",
                    )
            except FeedError as err:
                result.dead_letters.append(_station_letter(STATION_STATUS, err, record))
                continue
            if newest is not None and row.last_reported == newest:
                result.unchanged += 1
            elif row.last_reported < since:
                result.stale += 1
            else:
                result.rows.append(row)
                if capacity.get(row.station_id) is None:
                    unknown.add(row.station_id)
        result.unknown_stations = sorted(unknown)
        return result
    except FeedError as err:
        return StatusResult(None, dead_letters=[DeadLetter(STATION_STATUS, err.code, err.detail, _payload(body))])
    except Exception as err:
        detail = f"{type(err).__name__}: {quote(str(err))}"
        return StatusResult(None, dead_letters=[DeadLetter(STATION_STATUS, "unexpected_error", detail, _payload(body))])


# --- one station -----------------------------------------------------------------------------------------


def _information(record: Any) -> StationInformation:
    station_id = _station_id(record)
    name = record.get("name")
    if not isinstance(name, str) or not name.strip():
        raise FeedError("schema", f"name must be a non-empty string, got {quote(name)}")
    lat = _coordinate(record.get("lat"), "lat", 90.0)
    lon = _coordinate(record.get("lon"), "lon", 180.0)
    capacity = record.get("capacity")
    if capacity is not None:
        if not _is_int(capacity):
            raise FeedError("schema", f"capacity must be an integer, got {quote(capacity)}")
        if capacity < 0:
            raise FeedError("negative_count", f"capacity is {capacity}")
    return StationInformation(station_id, name, lat, lon, capacity)


def _status(record: Any, capacity: Mapping[str, int | None]) -> StationStatus:
    station_id = _station_id(record)
    counts: dict[str, int | None] = {}
    for name, required in (
        ("num_bikes_available", True),
        ("num_docks_available", False),
        ("num_bikes_disabled", False),
        ("num_docks_disabled", False),
    ):
        value = record.get(name)
        if value is None and not required:
            counts[name] = None
            continue
        if not _is_int(value):
            raise FeedError("schema", f"{name} must be an integer, got {quote(value)}")
        counts[name] = value
    flags = {name: _boolean(record.get(name), name) for name in ("is_installed", "is_renting", "is_returning")}
    last_reported = _timestamp(record.get("last_reported"), "last_reported")
    negative = [f"{name} = {value}" for name, value in counts.items() if value is not None and value < 0]
    if negative:
        raise FeedError("negative_count", ", ".join(negative))
    bikes = counts["num_bikes_available"]
    assert bikes is not None  # required above
    cap = capacity.get(station_id)
    if cap is not None and bikes > cap:
        raise FeedError("bikes_over_capacity", f"num_bikes_available = {bikes} > capacity {cap}")
    return StationStatus(
        station_id=station_id,
        last_reported=last_reported,
        num_bikes_available=bikes,
        num_docks_available=counts["num_docks_available"],
        **flags,
    )


# --- helpers ---------------------------------------------------------------------------------------------


def _stations(doc: dict[str, Any]) -> list[Any]:
    stations = doc["data"].get("stations")
    if not isinstance(stations, list):
        raise FeedError("schema", f"data.stations must be an array, got {quote(stations, 80)}")
    return stations


def _with_duplicates(records: list[Any]) -> list[tuple[Any, bool]]:
    """Each record and whether its (well-formed) station_id appears more than once in the file."""
    ids = [r.get("station_id") if isinstance(r, dict) else None for r in records]
    counts = Counter(i for i in ids if isinstance(i, str))
    return [(r, isinstance(i, str) and counts[i] > 1) for r, i in zip(records, ids, strict=True)]


def _station_id(record: Any) -> str:
    if not isinstance(record, dict):
        raise FeedError("schema", f"a station must be an object, got {type(record).__name__}")
    station_id = record.get("station_id")
    if not isinstance(station_id, str) or not ID_PATTERN.fullmatch(station_id):
        raise FeedError(
            "schema", f"station_id must be 1-64 printable characters without spaces, got {quote(station_id)}"
        )
    return station_id


def _station_letter(feed: str, err: FeedError, record: Any) -> DeadLetter:
    station_id = record.get("station_id") if isinstance(record, dict) else None
    return DeadLetter(
        feed,
        err.code,
        err.detail,
        _payload(record),
        station_id if isinstance(station_id, str) else None,
    )


def _is_int(value: Any) -> bool:
    return type(value) is int  # a bool is not a count


def _boolean(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if _is_int(value) and value in (0, 1):
        return bool(value)
    raise FeedError("schema", f"{name} must be a boolean, got {quote(value)}")


def _timestamp(value: Any, name: str) -> datetime:
    if not _is_int(value) or not 0 <= value <= MAX_TIMESTAMP:
        raise FeedError(
            "schema", f"{name} must be POSIX seconds (an integer in 0..{MAX_TIMESTAMP}), got {quote(value)}"
        )
    return datetime.fromtimestamp(value, UTC)


def _coordinate(value: Any, name: str, limit: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise FeedError("schema", f"{name} must be a number, got {quote(value)}")
    if not -limit <= value <= limit:
        raise FeedError("schema", f"{name} = {value} is outside [-{limit:g}, {limit:g}]")
    return float(value)


def _payload(value: bytes | Any) -> str:
    """What a dead letter keeps: the bytes as text (undecodable bytes escaped), or a record as JSON; cut."""
    if isinstance(value, bytes):
        text = value[: MAX_PAYLOAD_CHARS * 4].decode("utf-8", "backslashreplace")
    else:
        try:
            text = json.dumps(value, sort_keys=True)  # ASCII: every character escaped, always writable
        except (TypeError, ValueError, RecursionError):
            text = quote(value, MAX_PAYLOAD_CHARS)
    if len(text) > MAX_PAYLOAD_CHARS:
        text = f"{text[:MAX_PAYLOAD_CHARS]}… (cut, {len(text)} characters)"
    return writable(text)


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in pairs:
        if key in record:
            raise _DuplicateKey(f"the key {quote(key)} appears more than once in an object")
        record[key] = value
    return record


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON (RFC 8259)")
