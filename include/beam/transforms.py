"""The pipeline's DoFns: parse and validate, deduplicate by event_id, shape rows for BigQuery.

Each is small and unit-tested on its own (tests/beam). Nothing here is dropped silently: an invalid
message leaves as a dead-letter row with its payload and the reason, a duplicate is counted.
"""

from __future__ import annotations

import json
import logging
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.coders import StrUtf8Coder, TupleCoder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

LOG = logging.getLogger(__name__)
NAMESPACE = "bikeshare_ingest"
DEAD_LETTER = "dead_letter"
DUPLICATE = "duplicate"
KINDS = frozenset({"pickup", "dropoff"})
REQUIRED_FIELDS = ("event_id", "station_id", "ts_iso", "kind", "delta")
MAX_DEAD_LETTER_PAYLOAD = 1_000_000  # characters; BigQuery's streaming-insert row limit is 10 MB

# RFC 3339 date-time: full date, "T" (or space, which RFC 3339 allows), time, and a mandatory offset.
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def counter(name: str) -> Any:
    return Metrics.counter(NAMESPACE, name)


class InvalidEvent(ValueError):
    """A message that breaks the event contract; ``code`` is short and stable (a metric name)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


@dataclass(frozen=True)
class ValidEvent:
    """A message that honours the event contract (DESIGN.md §2), with its event time parsed."""

    event_id: str
    station_id: str
    ts: datetime  # UTC
    kind: str
    delta: int

    @property
    def ts_iso(self) -> str:
        """UTC, microseconds, ``Z``: the form BigQuery's insertAll and the emulator both read."""
        return format_ts(self.ts)


def format_ts(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: object) -> datetime:
    """An RFC 3339 timestamp with an explicit offset, in UTC; anything else is invalid."""
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise InvalidEvent("bad_ts_iso", f"not an RFC 3339 timestamp: {value!r}")
    try:
        return datetime.fromisoformat(value.upper().replace(" ", "T")).astimezone(UTC)
    except ValueError as err:  # e.g. month 13
        raise InvalidEvent("bad_ts_iso", f"{value!r}: {err}") from None


def _non_empty_str(record: dict[str, Any], name: str, code: str) -> str:
    value = record[name]
    if not isinstance(value, str) or not value.strip():
        raise InvalidEvent(code, f"{name} must be a non-empty string, got {value!r}")
    return value.strip()


def parse_event(payload: bytes) -> ValidEvent:
    """Validate one message body against the event contract or raise :class:`InvalidEvent`.

    Rules: a UTF-8 JSON object with all five fields; non-empty string ids; ``kind`` pickup or
    dropoff; ``delta`` exactly the integer 1 (one bike per event, as the simulator emits; a bool is
    not an int here); ``ts_iso`` RFC 3339 with an offset. Extra fields are ignored (forward compatible).
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidEvent("not_utf8", str(err)) from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise InvalidEvent("bad_json", str(err)) from None
    if not isinstance(record, dict):
        raise InvalidEvent("not_object", f"expected a JSON object, got {type(record).__name__}")
    missing = [name for name in REQUIRED_FIELDS if record.get(name) is None]
    if missing:
        code = "missing_station" if missing == ["station_id"] else "missing_field"
        raise InvalidEvent(code, f"missing {', '.join(missing)}")
    event_id = _non_empty_str(record, "event_id", "bad_event_id")
    station_id = _non_empty_str(record, "station_id", "missing_station")
    kind = record["kind"]
    if kind not in KINDS:
        raise InvalidEvent("bad_kind", f"kind must be pickup or dropoff, got {kind!r}")
    delta = record["delta"]
    if type(delta) is not int or delta != 1:
        raise InvalidEvent("bad_delta", f"delta must be the integer 1, got {delta!r}")
    return ValidEvent(event_id, station_id, parse_ts(record["ts_iso"]), kind, delta)


def dead_letter_row(payload: bytes | str, error: str, received_at: datetime | None = None) -> dict[str, str]:
    """A row of raw_events_dead_letter; undecodable bytes are kept as backslash escapes.

    Payloads beyond :data:`MAX_DEAD_LETTER_PAYLOAD` characters are cut (and the error says so), so
    an oversized message cannot make its own dead-letter row too big for BigQuery as well.
    """
    text = payload if isinstance(payload, str) else payload.decode("utf-8", errors="backslashreplace")
    if len(text) > MAX_DEAD_LETTER_PAYLOAD:
        error = f"{error} [payload truncated from {len(text)} characters]"
        text = text[:MAX_DEAD_LETTER_PAYLOAD]
    return {"payload": text, "error": error, "received_at": format_ts(received_at or datetime.now(UTC))}


class ParseEvents(beam.DoFn):
    """bytes → ``(event_id, ValidEvent)`` on the main output, dead-letter rows on ``dead_letter``.

    Keeps the element timestamp (the arrival/publish time): deduplication expires state on it, and
    the event time becomes the timestamp only afterwards (:class:`ToRawEventRow`).
    """

    def __init__(self) -> None:
        self.messages_in = counter("messages_in")
        self.valid = counter("valid")
        self.invalid = counter("invalid")

    def process(self, payload: bytes) -> Iterator[Any]:
        self.messages_in.inc()
        try:
            event = parse_event(payload)
        except InvalidEvent as err:
            self.invalid.inc()
            counter(f"invalid_{err.code}").inc()
            yield pvalue.TaggedOutput(DEAD_LETTER, dead_letter_row(payload, str(err)))
            return
        self.valid.inc()
        yield event.event_id, event


def dedupe_shard(event_id: str, shards: int) -> int:
    """The dedupe shard of an event_id: crc32, the same in every process and worker (``hash()`` is
    salted per process), so every copy of an id meets the same shard's state."""
    return zlib.crc32(event_id.encode("utf-8")) % shards


@beam.typehints.with_input_types(beam.typehints.Tuple[str, Any])
@beam.typehints.with_output_types(beam.typehints.Tuple[int, Any])
class KeyByShard(beam.DoFn):
    """``(event_id, ValidEvent)`` → ``(shard, ValidEvent)``: a bounded key space for the dedupe state.

    The int key hint gives the stateful step a deterministic key coder (VarInt), which Dataflow requires.
    """

    def __init__(self, shards: int) -> None:
        if shards < 1:
            raise ValueError(f"dedupe needs at least one shard, got {shards}")
        self.shards = shards

    def process(self, element: tuple[str, ValidEvent]) -> Iterator[tuple[int, ValidEvent]]:
        yield dedupe_shard(element[0], self.shards), element[1]


# Per shard: every remembered (event_id, arrival in µs), the one expiry timer, and when it is set.
_SEEN = BagStateSpec("seen", TupleCoder((StrUtf8Coder(), VarIntCoder())))
_PRUNE_AT = ReadModifyWriteStateSpec("prune_at", VarIntCoder())
_PRUNE = TimerSpec("prune", TimeDomain.WATERMARK)
_SEEN_PARAM = beam.DoFn.StateParam(_SEEN)
_PRUNE_AT_PARAM = beam.DoFn.StateParam(_PRUNE_AT)
_PRUNE_PARAM = beam.DoFn.TimerParam(_PRUNE)


@beam.typehints.with_input_types(beam.typehints.Tuple[int, Any])
class DedupeByEventId(beam.DoFn):
    """Emit the first event per event_id; the rest go to the ``duplicate`` output (their event_id).

    Keyed by shard (:class:`KeyByShard`), not by event_id: each shard keeps a bag of the ids it saw
    with their arrival time and one watermark timer at the earliest expiry, which drops what is
    older than ``ttl`` and re-arms itself. The key space, and so the runner's per-key bookkeeping,
    stays at the shard count: keyed by event_id, the BundleBasedDirectRunner kept one never-reclaimed
    state and timer per id and scanned them all on every watermark tick (52 events/s at 20k events).
    The bag is read once per bundle and shard into a dict (``_ids``), so a bundle costs one read,
    not one per element; the cache lives only within a bundle, where the runner's state is ours.

    Expiry runs on the first copy's *arrival* timestamp (the Pub/Sub publish time, which drives the
    watermark), not on its ``ts_iso``: replays of old trips carry event times months behind the
    watermark, so an event-time expiry would forget every id at once. Redeliveries and publisher
    retries arrive within minutes, so a 1-day TTL covers them while the state stays bounded by the
    arrival rate. Late data (old ``ts_iso``) is neither dropped nor treated differently.
    """

    def __init__(self, ttl_seconds: int = 86_400) -> None:
        if ttl_seconds < 1:
            raise ValueError(f"the dedupe TTL must be positive, got {ttl_seconds}")
        self.ttl_micros = ttl_seconds * 1_000_000
        self.duplicates = counter("duplicates")
        self._ids: dict[int, dict[str, int]] = {}

    def start_bundle(self) -> None:
        self._ids = {}

    def _seen_ids(self, shard: int, seen: Any) -> dict[str, int]:
        """The shard's remembered ids (→ arrival µs), read from state once per bundle."""
        ids = self._ids.get(shard)
        if ids is None:
            ids = self._ids[shard] = dict(seen.read())
        return ids

    def process(
        self,
        element: tuple[int, ValidEvent],
        timestamp: Timestamp = beam.DoFn.TimestampParam,
        seen: Any = _SEEN_PARAM,
        prune_at: Any = _PRUNE_AT_PARAM,
        prune: Any = _PRUNE_PARAM,
    ) -> Iterator[Any]:
        shard, event = element
        ids = self._seen_ids(shard, seen)
        if event.event_id in ids:
            self.duplicates.inc()
            yield pvalue.TaggedOutput(DUPLICATE, event.event_id)
            return
        arrival = timestamp.micros
        ids[event.event_id] = arrival
        seen.add((event.event_id, arrival))
        expires = arrival + self.ttl_micros
        armed = prune_at.read()
        if armed is None or expires < armed:  # arrivals are nearly ordered: mostly armed already
            prune.set(Timestamp(micros=expires))
            prune_at.write(expires)
        yield event

    @on_timer(_PRUNE)
    def expire(
        self,
        shard: int = beam.DoFn.KeyParam,
        fired: Timestamp = beam.DoFn.TimestampParam,
        seen: Any = _SEEN_PARAM,
        prune_at: Any = _PRUNE_AT_PARAM,
        prune: Any = _PRUNE_PARAM,
    ) -> None:
        """Forget ids whose first copy arrived ``ttl`` or more before ``fired``; re-arm for the next."""
        cutoff = fired.micros - self.ttl_micros
        kept = {event_id: arrival for event_id, arrival in seen.read() if arrival > cutoff}
        seen.clear()
        for entry in kept.items():
            seen.add(entry)
        self._ids[shard] = kept
        if kept:
            expires = min(kept.values()) + self.ttl_micros
            prune.set(Timestamp(micros=expires))
            prune_at.write(expires)
        else:
            prune_at.clear()


class LogDuplicate(beam.DoFn):
    """One log line per removed duplicate: with the ``duplicates`` counter, the audit trail that lets
    ``messages in = rows + dead letters + duplicates`` be checked id by id (the DirectRunner's
    streaming metrics keep only the first bundle per worker thread, so the log is what it can show)."""

    def process(self, event_id: str) -> Iterator[None]:
        LOG.info("duplicate removed: event_id=%s", event_id)
        return iter(())


class ToRawEventRow(beam.DoFn):
    """ValidEvent → a raw_events row stamped with ``ingested_at``, timestamped at its event time."""

    def process(self, event: ValidEvent) -> Iterator[beam.window.TimestampedValue]:
        row = raw_event_row(event, datetime.now(UTC))
        yield beam.window.TimestampedValue(row, Timestamp.from_utc_datetime(event.ts))


def raw_event_row(event: ValidEvent, ingested_at: datetime) -> dict[str, Any]:
    """Timestamps as RFC 3339 strings, the form streaming inserts take (see :func:`with_timestamp_objects`)."""
    return {
        "event_id": event.event_id,
        "station_id": event.station_id,
        "ts_iso": format_ts(event.ts),
        "kind": event.kind,
        "delta": event.delta,
        "ingested_at": format_ts(ingested_at),
    }


def with_timestamp_objects(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The row for the Storage Write API, whose Beam-row conversion wants Beam Timestamps, not strings."""
    return {k: Timestamp.from_rfc3339(v) if k in fields and isinstance(v, str) else v for k, v in row.items()}


class FailedWriteToDeadLetter(beam.DoFn):
    """A row BigQuery refused (``failed_rows_with_errors``) → a dead-letter row; never dropped."""

    def __init__(self) -> None:
        self.write_failures = counter("write_failures")

    def process(self, failed: tuple[Any, dict[str, Any], Any]) -> Iterator[dict[str, str]]:
        _destination, row, errors = failed
        self.write_failures.inc()
        LOG.warning("BigQuery refused row %s: %s", row.get("event_id"), errors)
        payload = json.dumps(row, default=str, sort_keys=True)
        yield dead_letter_row(payload, f"write_failed: {json.dumps(errors, default=str)}")


class LogDeadLetterWriteFailure(beam.DoFn):
    """The last resort: the dead-letter table itself refused a row; log it loudly and count it."""

    def __init__(self) -> None:
        self.failures = counter("dead_letter_write_failures")

    def process(self, failed: tuple[Any, dict[str, Any], Any]) -> Iterator[None]:
        self.failures.inc()
        LOG.error("dead-letter write failed, row kept only in this log: %s (%s)", failed[1], failed[2])
        return iter(())
