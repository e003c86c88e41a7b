"""The event contract: what a sensor message must be, and why one is refused.

One JSON object per Pub/Sub message, UTF-8, at most :data:`MAX_MESSAGE_BYTES` bytes, with exactly
these fields (docs/design.md §2.1)::

    {"system_id": str, "event_id": str, "station_id": str, "ts_iso": RFC 3339, "kind": "pickup" | "dropoff",
     "delta": 1}

- ``system_id``: the bike share system, one of the systems table's ids (:mod:`include.systems`); an id of the
  right form that names no system is ``unknown_system``. Events are keyed ``(system_id, event_id)``: two
  systems may reuse an event or station id. Required: a message without it (or with null) is refused as
  ``missing_field``, never guessed to be one system's. Rows written before systems (``system_id`` NULL) are
  the default system's (``citibike-jc``), filled by the table migration.

- ``event_id``: 1-128 characters of ``[A-Za-z0-9._:-]``, starting with a letter or digit; derived
  deterministically from the trip, so a replayed or redelivered event keeps its id.
- ``station_id``: 1-32 characters of the same alphabet (GBFS ids such as ``3186``, ``JC052``,
  ``5329.03``). A station never seen before is accepted; the stream's health report counts it.
- ``ts_iso``: an RFC 3339 date-time with an explicit offset, in ``[now - late limit, now + future
  limit]`` (48 h and 5 min by default). "Now" is the ingest's clock: the wall clock, or for local
  replays of past months the simulated time the simulator sends in the message attribute
  :data:`SIMULATED_NOW_ATTRIBUTE`. Events within the late limit are counted in their own hour by
  the next features run; older ones are refused as ``too_late``.
- ``kind``: ``pickup`` or ``dropoff``; ``delta``: the integer 1 (one bike per event).
- Nothing else: an unknown field is refused, not ignored, so a producer bug or a payload smuggled
  into an extra field cannot pass unseen.

:func:`parse_event` never raises anything but :class:`InvalidEvent`; :func:`classify` never raises
at all: any failure, expected or not, becomes a :class:`Rejection` with a reason code from
:data:`REASONS` and the detail, which ingest writes to the dead-letter table. Nothing is dropped.

This module is the contract in code, and the one place each part of it lives: :class:`Event` (the
simulator produces it, the validator returns it, the Beam pipeline and the history loader write it to
``raw_events``, :mod:`include.gcp.tables`), :data:`KINDS`, :data:`FIELDS`, :data:`REASONS` (the
simulator's injected faults, :mod:`include.simulator.malformed`, are named by these codes) and the one
RFC 3339 formatter, :func:`format_ts` (UTC, microseconds, ``Z``), for every timestamp this project
writes as text. The dbt staging model's docs point here.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast

from include.systems import DEFAULT_SYSTEM

Kind = Literal["pickup", "dropoff"]
KINDS: frozenset[str] = frozenset({"pickup", "dropoff"})
FIELDS = ("system_id", "event_id", "station_id", "ts_iso", "kind", "delta")
MAX_MESSAGE_BYTES = 1024  # a valid event is under 300 bytes
SIMULATED_NOW_ATTRIBUTE = "simulated_now"  # Pub/Sub attribute: the replay's clock, RFC 3339
EVENT_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
STATION_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
SYSTEM_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")  # include.systems checks the table with the same
# RFC 3339 date-time: full date, "T" (or space, which RFC 3339 allows), time, and a mandatory offset.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")

# Why a message was refused: short, stable codes (metric names, the dead-letter table's ``reason``).
REASONS: dict[str, str] = {
    "too_large": f"the message is over {MAX_MESSAGE_BYTES} bytes",
    "not_utf8": "the bytes are not UTF-8",
    "bad_json": "not strict JSON (RFC 8259: no NaN or Infinity; nesting and numbers within the parser's limits)",
    "duplicate_key": "a JSON object names the same key twice (parsers disagree on which value wins)",
    "not_object": "JSON, but not an object",
    "missing_field": "a required field is absent or null",
    "unknown_field": "a field outside the contract",
    "bad_event_id": "event_id is not a string of the allowed form",
    "missing_station": "station_id is absent or empty",
    "bad_system_id": "system_id is not a string of the allowed form",
    "unknown_system": "system_id names no system of the systems table",
    "bad_station_id": "station_id is not a string of the allowed form",
    "bad_kind": "kind is not pickup or dropoff",
    "bad_delta": "delta is not the integer 1",
    "bad_ts_iso": "ts_iso is not an RFC 3339 date-time with an offset",
    "too_late": "ts_iso is older than the late-event limit",
    "future_ts": "ts_iso is ahead of the ingest clock by more than the future limit",
    "conflicting_duplicate": "an event_id seen before with a different payload",
    "write_failed": "BigQuery refused the row",
    "unexpected_error": "the validator itself failed (a bug): the exception is in the detail",
}


class InvalidEvent(ValueError):
    """A message that breaks the contract; ``code`` is one of :data:`REASONS`."""

    def __init__(self, code: str, detail: str, event_id: str | None = None, system_id: str | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.event_id = event_id
        self.system_id = system_id


@dataclass(frozen=True)
class Limits:
    """How far the event time may be from the ingest clock, and the message size cap."""

    max_age: timedelta = timedelta(minutes=2_880)
    max_lead: timedelta = timedelta(minutes=5)
    max_bytes: int | None = MAX_MESSAGE_BYTES  # None: no cap (tests of the parser alone)
    # the system ids accepted; None: the systems table's (include.systems). Dataflow workers get them as a flag.
    systems: frozenset[str] | None = None

    def known_systems(self) -> frozenset[str]:
        if self.systems is not None:
            return self.systems
        from include.systems import all_systems  # reads the table; never on a worker given --systems

        return frozenset(all_systems())


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, order=True)
class Event:
    """One pickup or dropoff that honours the contract, its time in UTC.

    The one event class: the simulator builds it from trips, the validator returns it, the pipeline
    writes it. Orders by event time, then id (a stable replay order); fields in that order, so
    ``Event(ts, event_id, station_id, kind)`` reads positionally, ``delta`` defaulting to 1.
    """

    ts: datetime  # UTC
    event_id: str
    station_id: str
    kind: Kind
    delta: int = 1
    system_id: str = DEFAULT_SYSTEM  # the key is (system_id, event_id): two systems may reuse an id

    @property
    def key(self) -> str:
        """What deduplication keys on: :func:`event_key` of ``(system_id, event_id)``."""
        return event_key(self.system_id, self.event_id)

    @property
    def ts_iso(self) -> str:
        """The event time in :func:`format_ts`'s form, e.g. ``2019-09-01T04:00:37.692000Z``."""
        return format_ts(self.ts)

    def fingerprint(self) -> int:
        """A 63-bit digest of everything but the key ``(system_id, event_id)``: two copies of a key with
        different fingerprints are a ``conflicting_duplicate``."""
        text = f"{self.station_id}|{self.ts_iso}|{self.kind}|{self.delta}"
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1

    def to_dict(self) -> dict[str, Any]:
        """The wire form: the fields of :data:`FIELDS`, ``ts_iso`` in :func:`format_ts`'s form."""
        return {name: getattr(self, name) for name in FIELDS}

    def to_json(self) -> bytes:
        """The message body: :meth:`to_dict` as compact JSON."""
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()


@dataclass(frozen=True)
class Rejection:
    """Why a message is a dead letter: a code of :data:`REASONS`, the detail, and its id if it had one."""

    code: str
    detail: str
    event_id: str | None = None
    system_id: str | None = None  # the message's, when it had a well-formed one (None: absent or malformed)

    @property
    def error(self) -> str:
        return f"{self.code}: {self.detail}"


def event_key(system_id: str | None, event_id: str | None) -> str:
    """``system_id/event_id``, one string for the dedupe state (``/`` is in neither id's alphabet); a row
    written before systems (``system_id`` NULL) is the default system's."""
    return f"{system_id or DEFAULT_SYSTEM}/{event_id}"


def format_ts(ts: datetime) -> str:
    """RFC 3339 in UTC with microseconds and ``Z``: the form BigQuery and the emulator both read."""
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: object) -> datetime:
    """An RFC 3339 date-time with an explicit offset, in UTC; anything else is ``bad_ts_iso``."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise InvalidEvent("bad_ts_iso", f"not an RFC 3339 date-time with an offset: {quote(value)}")
    text = value.upper().replace(" ", "T")
    if "." in text:  # Python reads at most 6 fractional digits; RFC 3339 allows more
        head, _, tail = text.partition(".")
        digits = re.match(r"\d+", tail).group()  # type: ignore[union-attr]  # the pattern guarantees digits
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits) :]}"
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError) as err:  # month 13; year 1 shifted before datetime.min
        raise InvalidEvent("bad_ts_iso", f"{quote(value)}: {err}") from None


def parse_event(payload: bytes, now: datetime | None = None, limits: Limits = DEFAULT_LIMITS) -> Event:
    """Validate one message body or raise :class:`InvalidEvent` (and nothing else on bad input).

    ``now`` is the ingest clock; None skips the time window (the history loader's past months).
    """
    if limits.max_bytes is not None and len(payload) > limits.max_bytes:
        raise InvalidEvent("too_large", f"{len(payload)} bytes, limit {limits.max_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidEvent("not_utf8", str(err)) from None
    try:
        record = json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidEvent("bad_json", "nested too deeply") from None
    except _DuplicateKey as err:
        raise InvalidEvent("duplicate_key", f"the key {quote(err.key)} appears more than once") from None
    except ValueError as err:  # JSONDecodeError, NaN/Infinity, integers beyond the int conversion limit
        raise InvalidEvent("bad_json", str(err)) from None
    if not isinstance(record, dict):
        raise InvalidEvent("not_object", f"expected a JSON object, got {type(record).__name__}")
    return validate_record(record, now, limits)


def validate_record(record: dict[str, Any], now: datetime | None = None, limits: Limits = DEFAULT_LIMITS) -> Event:
    """The contract's field rules on a decoded object (see :func:`parse_event`)."""
    event_id = record.get("event_id")
    known_id = event_id if isinstance(event_id, str) and EVENT_ID_PATTERN.fullmatch(event_id) else None
    system_id = record.get("system_id")
    well_formed_system = system_id if isinstance(system_id, str) and SYSTEM_ID_PATTERN.fullmatch(system_id) else None

    def invalid(code: str, detail: str) -> InvalidEvent:
        return InvalidEvent(code, detail, known_id, well_formed_system)

    unknown = sorted(str(k) for k in record if k not in FIELDS)
    if unknown:
        raise invalid("unknown_field", f"fields outside the contract: {quote(', '.join(unknown))}")
    missing = [name for name in FIELDS if record.get(name) is None]
    if missing:
        code = "missing_station" if missing == ["station_id"] else "missing_field"
        raise invalid(code, f"missing {', '.join(missing)}")
    if known_id is None:
        raise invalid("bad_event_id", f"event_id must match {EVENT_ID_PATTERN.pattern}, got {quote(event_id)}")
    if well_formed_system is None:
        raise invalid("bad_system_id", f"system_id must match {SYSTEM_ID_PATTERN.pattern}, got {quote(system_id)}")
    if well_formed_system not in limits.known_systems():
        known = ", ".join(sorted(limits.known_systems()))
        raise invalid("unknown_system", f"{quote(system_id)} is not in the systems table (known: {quote(known)})")
    station_id = record["station_id"]
    if station_id == "":
        raise invalid("missing_station", "station_id is empty")
    if not isinstance(station_id, str) or not STATION_ID_PATTERN.fullmatch(station_id):
        raise invalid("bad_station_id", f"station_id must match {STATION_ID_PATTERN.pattern}, got {quote(station_id)}")
    kind = record["kind"]
    if not isinstance(kind, str) or kind not in KINDS:
        raise invalid("bad_kind", f"kind must be pickup or dropoff, got {quote(kind)}")
    delta = record["delta"]
    if type(delta) is not int or delta != 1:  # a bool is not an int here
        raise invalid("bad_delta", f"delta must be the integer 1, got {quote(delta)}")
    try:
        ts = parse_ts(record["ts_iso"])
    except InvalidEvent as err:
        raise invalid(err.code, err.detail) from None
    if now is not None:
        # differences, not now ± limit: a simulated clock near year 9999 must not overflow
        if now - ts > limits.max_age:
            raise invalid("too_late", f"{format_ts(ts)} is more than {limits.max_age} before {format_ts(now)}")
        if ts - now > limits.max_lead:
            raise invalid("future_ts", f"{format_ts(ts)} is more than {limits.max_lead} after {format_ts(now)}")
    return Event(
        ts=ts,
        event_id=known_id,
        station_id=station_id,
        kind=cast(Kind, kind),
        delta=delta,
        system_id=well_formed_system,
    )


def classify(payload: bytes, now: datetime | None = None, limits: Limits = DEFAULT_LIMITS) -> Event | Rejection:
    """A valid event or the reason it is not; never raises, whatever the bytes."""
    try:
        return parse_event(payload, now, limits)
    except InvalidEvent as err:
        return Rejection(err.code, err.detail, err.event_id, err.system_id)
    except Exception as err:  # a bug in the validator must not stop ingest either
        return Rejection("unexpected_error", f"{type(err).__name__}: {quote(str(err))}")


def simulated_now(attributes: dict[str, str] | None) -> datetime | None:
    """The replay's clock from a message's attributes, or None when absent or unreadable."""
    value = (attributes or {}).get(SIMULATED_NOW_ATTRIBUTE)
    try:
        return parse_ts(value)
    except InvalidEvent:
        return None


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads``'s object hook: a repeated key is refused, not silently last-wins."""
    record: dict[str, Any] = {}
    for key, value in pairs:
        if key in record:
            raise _DuplicateKey(key)
        record[key] = value
    return record


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def writable(text: str) -> str:
    """``text`` with every lone surrogate written as its ``\\udxxx`` escape: valid UTF-8 for any encoder.

    JSON may escape a lone surrogate (``"\\ud800"``) that no UTF-8 encoder can write; a dead letter
    quoting it would be refused by the sink's encoder (orjson, then BigQuery) and stop the stream.
    Every other character, NUL included, is kept as it is.
    """
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def quote(value: object, limit: int = 200) -> str:
    """A value for an error message: escaped (``repr``: control characters, lone surrogates and
    quotes as escapes) and cut, so that input quoted in a dead letter's detail is always writable
    and a huge field cannot bloat it."""
    try:
        text = repr(value)
    except Exception:  # repr of a deeply nested or huge value can fail
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"
