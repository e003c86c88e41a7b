"""The pipeline's DoFns: parse and validate, deduplicate by event_id, shape rows for BigQuery.

Each is small and unit-tested on its own (tests/beam/pipeline). Nothing here is dropped silently: an invalid
message leaves as a dead-letter row with its payload and reason code (the event contract and its
codes: :mod:`include.gcp.events`), a duplicate is counted and logged. Elements carry the Pub/Sub
message id beside the event (:class:`Received`), so that the local job can acknowledge each message
once its row or dead letter is written (:mod:`include.beam.pipeline.local_acks`; a no-op on Dataflow).
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.coders import StrUtf8Coder, TupleCoder, VarIntCoder
from apache_beam.metrics import Metrics
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import Timestamp

from include.beam.pipeline import local_acks, written_ids
from include.gcp.events import (
    DEFAULT_LIMITS,
    Event,
    Limits,
    Rejection,
    classify,
    event_key,
    format_ts,
    simulated_now,
    writable,
)

LOG = logging.getLogger(__name__)
NAMESPACE = "bikeshare_ingest"
DEAD_LETTER = "dead_letter"
DUPLICATE = "duplicate"
MAX_DEAD_LETTER_PAYLOAD = 1_000_000  # characters; BigQuery's streaming-insert row limit is 10 MB


def counter(name: str) -> Any:
    return Metrics.counter(NAMESPACE, name)


class Received(NamedTuple):
    """A valid event, the Pub/Sub message id it came in (None when the source has none: tests), the
    message's bytes (under 1 KB), kept for the dead letter should it turn out a conflicting copy, and
    the clock it was judged against (where a copy of it may still be accepted)."""

    event: Event
    message_id: str | None = None
    payload: bytes = b""
    clock: datetime | None = None


def dead_letter_row(
    payload: bytes | str,
    rejection: Rejection,
    received_at: datetime | None = None,
    message_id: str | None = None,
) -> dict[str, str | None]:
    """A row of raw_events_dead_letter that every encoder on the way to BigQuery can write.

    Undecodable bytes are kept as backslash escapes, and so is any lone surrogate in any field
    (:func:`~include.gcp.events.writable`): a row the sink's encoder refuses would otherwise be
    retried forever and stop the stream. Payloads beyond :data:`MAX_DEAD_LETTER_PAYLOAD` characters
    are cut (and the error says so), so an oversized message cannot make its own dead-letter row too
    big for BigQuery as well.
    """
    text = payload if isinstance(payload, str) else payload.decode("utf-8", errors="backslashreplace")
    error = rejection.error
    if len(text) > MAX_DEAD_LETTER_PAYLOAD:
        error = f"{error} [payload truncated from {len(text)} characters]"
        text = text[:MAX_DEAD_LETTER_PAYLOAD]
    row = {
        "payload": text,
        "error": error,
        "received_at": format_ts(received_at or datetime.now(UTC)),
        "reason": rejection.code,
        "event_id": rejection.event_id,
        "system_id": rejection.system_id,
        "message_id": message_id,
    }
    return {k: None if v is None else writable(v) for k, v in row.items()}


def unpack(message: Any) -> tuple[bytes, dict[str, str], str | None]:
    """(payload, attributes, message id) of a Pub/Sub message read with attributes, or of plain bytes."""
    if isinstance(message, bytes):
        return message, {}, None
    return message.data, dict(message.attributes or {}), message.message_id or None


class ParseEvents(beam.DoFn):
    """Message → ``(event_id, Received)`` on the main output, dead-letter rows on ``dead_letter``.

    Never raises on its input (:func:`include.gcp.events.classify`). The clock the event time is
    judged against is the wall clock, unless ``replay_window`` is given: then a message's
    ``simulated_now`` attribute (a replay's clock) is honoured when it lies inside that window (the
    span of the data being replayed). Whoever publishes cannot move the clock outside it, to 1900 or
    9999: such a message, like one without the attribute, is judged by the wall clock. Keeps the
    element timestamp (the publish time): deduplication expires state on it; the event time becomes
    the timestamp only afterwards (:class:`ToRawEventRow`).
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS, replay_window: tuple[datetime, datetime] | None = None) -> None:
        if replay_window is not None and not replay_window[0] < replay_window[1]:
            raise ValueError(f"the replay window {replay_window} is empty")
        self.limits = limits
        self.replay_window = replay_window
        self.messages_in = counter("messages_in")
        self.valid = counter("valid")
        self.invalid = counter("invalid")
        self.clock_refused = counter("simulated_now_outside_window")

    def now(self, attributes: dict[str, str]) -> datetime:
        wall = datetime.now(UTC)
        if self.replay_window is None:
            return wall
        simulated = simulated_now(attributes)
        if simulated is None:
            return wall
        if not self.replay_window[0] <= simulated < self.replay_window[1]:
            self.clock_refused.inc()
            return wall
        return simulated

    def process(self, message: Any) -> Iterator[Any]:
        self.messages_in.inc()
        payload, attributes, message_id = unpack(message)
        now = self.now(attributes)
        result = classify(payload, now, self.limits)
        if isinstance(result, Rejection):
            self.invalid.inc()
            counter(f"invalid_{result.code}").inc()
            yield pvalue.TaggedOutput(DEAD_LETTER, dead_letter_row(payload, result, message_id=message_id))
            return
        self.valid.inc()
        yield result.key, Received(result, message_id, payload, now)


def conflicting_duplicate(received: Received, detail: str) -> dict[str, str | None]:
    """The dead-letter row of a copy of an event_id whose content differs from the first copy's."""
    event = received.event
    rejection = Rejection("conflicting_duplicate", detail, event.event_id, event.system_id)
    payload = received.payload or json.dumps(event.to_dict())
    return dead_letter_row(payload, rejection, message_id=received.message_id)


class SkipWritten(beam.DoFn):
    """Drop copies of events raw_events already holds, whatever job wrote them; pass the rest once.

    A job's in-memory dedupe starts empty, so after a drain, a kill -9 or under a new job name, a
    copy of an event an earlier job wrote would otherwise become a second row. Each event is claimed
    in the process's :class:`~include.beam.pipeline.written_ids.WrittenIds` over the days of its
    late-event window (the ingest clock minus the late limit to the clock plus the future limit):
    an identical earlier copy makes it a duplicate, a different one a ``conflicting_duplicate`` dead
    letter, no copy passes it on (and registers its message for the acknowledgement, before a later
    copy can be seen). A day's ids are read from raw_events the first time the day is needed, a
    failing read is retried, never skipped.

    Locally (one process) this alone keeps raw_events exactly once per id within the window; on
    Dataflow each worker holds its own cache and the keyed dedupe downstream catches copies that
    meet on different workers within its TTL. The element timestamp is the publish time here.
    """

    def __init__(self, table: str, limits: Limits = DEFAULT_LIMITS, max_days: int = 8) -> None:
        self.table = table
        self.limits = limits
        self.max_days = max_days
        self.found = counter("found_in_raw_events")
        self._client: Any = None
        self._ids: written_ids.WrittenIds | None = None

    def setup(self) -> None:
        from google.cloud import bigquery  # the client honours BIGQUERY_EMULATOR_HOST locally

        self._client = bigquery.Client(project=self.table.split(".")[0])
        self._ids = written_ids.shared(self.table, self.written_on, self.max_days)

    def process(self, element: tuple[str, Received]) -> Iterator[Any]:
        key, received = element
        clock = received.clock or datetime.now(UTC)
        window = written_ids.days_between(clock - self.limits.max_age, clock + self.limits.max_lead)
        assert self._ids is not None, "setup() first"
        fingerprint = self._ids.claim(
            received.event, window, on_first=lambda: local_acks.expect_row(key, received.message_id)
        )
        if fingerprint is None:
            yield element
            return
        self.found.inc()
        if fingerprint == received.event.fingerprint():
            yield pvalue.TaggedOutput(DUPLICATE, received)
        else:
            detail = "an earlier copy (in raw_events or on its way) had another station, time, kind or delta"
            yield pvalue.TaggedOutput(DEAD_LETTER, conflicting_duplicate(received, detail))

    def written_on(self, day: date) -> dict[str, int]:
        """event key (:func:`~include.gcp.events.event_key`) → fingerprint of raw_events' rows of ``day``
        (retried until BigQuery answers)."""
        from google.cloud import bigquery

        start, end = written_ids.day_bounds(day)
        sql = (
            f"SELECT system_id, event_id, station_id, ts_iso, kind, delta FROM `{self.table}` "
            "WHERE ts_iso >= @start AND ts_iso < @end"
        )
        params = [
            bigquery.ScalarQueryParameter("start", "TIMESTAMP", start),
            bigquery.ScalarQueryParameter("end", "TIMESTAMP", end),
        ]
        config = bigquery.QueryJobConfig(query_parameters=params)
        delay = 1.0
        while True:
            try:
                rows = list(self._client.query(sql, job_config=config).result())
                break
            except Exception as err:
                LOG.warning(
                    "reading the event_ids of %s in %s failed; retrying in %.0f s: %s", day, self.table, delay, err
                )
                time.sleep(delay)
                delay = min(2 * delay, 30.0)
        out = {}
        for r in rows:
            ts = r["ts_iso"] if r["ts_iso"].tzinfo else r["ts_iso"].replace(tzinfo=UTC)
            event = Event(ts=ts, event_id=r["event_id"], station_id=r["station_id"], kind=r["kind"], delta=r["delta"])
            out.setdefault(event_key(r["system_id"], r["event_id"]), event.fingerprint())
        LOG.info("read %d event_ids of %s from %s", len(out), day, self.table)
        return out


def dedupe_shard(key: str, shards: int) -> int:
    """The dedupe shard of an event key (``system_id/event_id``): crc32, the same in every process and worker
    (``hash()`` is salted per process), so every copy of an event meets the same shard's state."""
    return zlib.crc32(key.encode("utf-8")) % shards


@beam.typehints.with_input_types(beam.typehints.Tuple[str, Any])
@beam.typehints.with_output_types(beam.typehints.Tuple[int, Any])
class KeyByShard(beam.DoFn):
    """``(key, Received)`` → ``(shard, Received)``: a bounded key space for the dedupe state.

    The int key hint gives the stateful step a deterministic key coder (VarInt), which Dataflow requires.
    """

    def __init__(self, shards: int) -> None:
        if shards < 1:
            raise ValueError(f"dedupe needs at least one shard, got {shards}")
        self.shards = shards

    def process(self, element: tuple[str, Received]) -> Iterator[tuple[int, Received]]:
        yield dedupe_shard(element[0], self.shards), element[1]


# Per shard: every remembered (event_id, arrival in µs, fingerprint), the one expiry timer, and when it is set.
_SEEN = BagStateSpec("seen", TupleCoder((StrUtf8Coder(), VarIntCoder(), VarIntCoder())))
_PRUNE_AT = ReadModifyWriteStateSpec("prune_at", VarIntCoder())
_PRUNE = TimerSpec("prune", TimeDomain.WATERMARK)
_SEEN_PARAM = beam.DoFn.StateParam(_SEEN)
_PRUNE_AT_PARAM = beam.DoFn.StateParam(_PRUNE_AT)
_PRUNE_PARAM = beam.DoFn.TimerParam(_PRUNE)


@beam.typehints.with_input_types(beam.typehints.Tuple[int, Any])
class DedupeByEventId(beam.DoFn):
    """Emit the first copy per event_id; an identical later copy goes to ``duplicate``, a copy with
    another content (station, time, kind or delta) to the dead letters as ``conflicting_duplicate``.

    Keyed by shard (:class:`KeyByShard`), not by event_id: each shard keeps a bag of the ids it saw
    with their arrival time and content fingerprint, and one watermark timer at the earliest expiry,
    which drops what is older than ``ttl`` and re-arms itself. The key space, and so the runner's
    per-key bookkeeping, stays at the shard count: keyed by event_id, the BundleBasedDirectRunner kept
    one never-reclaimed state and timer per id and scanned them all on every watermark tick (52
    events/s at 20k events). The bag is read once per bundle and shard into a dict (``_ids``), so a
    bundle costs one read, not one per element; the cache lives only within a bundle, where the
    runner's state is ours.

    Expiry runs on the first copy's *arrival* timestamp (the Pub/Sub publish time, which drives the
    watermark), not on its ``ts_iso``: replays of old trips carry event times months behind the
    watermark, so an event-time expiry would forget every id at once. Redeliveries and publisher
    retries arrive within minutes, so a 1-day TTL covers them while the state stays bounded by the
    arrival rate. The first copy's message is registered for its acknowledgement here, before any
    later copy can be seen (:mod:`include.beam.pipeline.local_acks`).
    """

    def __init__(self, ttl_seconds: int = 86_400) -> None:
        if ttl_seconds < 1:
            raise ValueError(f"the dedupe TTL must be positive, got {ttl_seconds}")
        self.ttl_micros = ttl_seconds * 1_000_000
        self.duplicates = counter("duplicates")
        self.conflicts = counter("conflicting_duplicates")
        self._ids: dict[int, dict[str, tuple[int, int]]] = {}

    def start_bundle(self) -> None:
        self._ids = {}

    def _seen_ids(self, shard: int, seen: Any) -> dict[str, tuple[int, int]]:
        """The shard's remembered ids (→ arrival µs, fingerprint), read from state once per bundle."""
        ids = self._ids.get(shard)
        if ids is None:
            ids = self._ids[shard] = {event_id: (arrival, fp) for event_id, arrival, fp in seen.read()}
        return ids

    def process(
        self,
        element: tuple[int, Received],
        timestamp: Timestamp = beam.DoFn.TimestampParam,
        seen: Any = _SEEN_PARAM,
        prune_at: Any = _PRUNE_AT_PARAM,
        prune: Any = _PRUNE_PARAM,
    ) -> Iterator[Any]:
        shard, received = element
        event = received.event
        ids = self._seen_ids(shard, seen)
        fingerprint = event.fingerprint()
        if event.key in ids:
            first_arrival, first_fingerprint = ids[event.key]
            if first_fingerprint == fingerprint:
                self.duplicates.inc()
                yield pvalue.TaggedOutput(DUPLICATE, received)
            else:
                self.conflicts.inc()
                first = Timestamp(micros=first_arrival).to_rfc3339()
                detail = f"the copy that arrived at {first} had another station, time, kind or delta"
                yield pvalue.TaggedOutput(DEAD_LETTER, conflicting_duplicate(received, detail))
            return
        arrival = timestamp.micros
        ids[event.key] = (arrival, fingerprint)
        seen.add((event.key, arrival, fingerprint))
        expires = arrival + self.ttl_micros
        armed = prune_at.read()
        if armed is None or expires < armed:  # arrivals are nearly ordered: mostly armed already
            prune.set(Timestamp(micros=expires))
            prune_at.write(expires)
        local_acks.expect_row(event.key, received.message_id)
        yield received

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
        kept = {event_id: (arrival, fp) for event_id, arrival, fp in seen.read() if arrival > cutoff}
        seen.clear()
        for event_id, (arrival, fp) in kept.items():
            seen.add((event_id, arrival, fp))
        self._ids[shard] = kept
        if kept:
            expires = min(arrival for arrival, _ in kept.values()) + self.ttl_micros
            prune.set(Timestamp(micros=expires))
            prune_at.write(expires)
        else:
            prune_at.clear()


class HandleDuplicate(beam.DoFn):
    """One log line per removed duplicate, and its message acknowledged (:func:`local_acks.duplicate`).

    With the ``duplicates`` counter, the log is the audit trail that lets ``messages in = rows + dead
    letters + duplicates`` be checked id by id (the DirectRunner's streaming metrics keep only the
    first bundle per worker thread, so the log is what it can show).
    """

    def process(self, received: Received) -> Iterator[None]:
        LOG.info("duplicate removed: event_id=%s", received.event.event_id)
        local_acks.duplicate(received.message_id)
        return iter(())


class ToRawEventRow(beam.DoFn):
    """Received → a raw_events row stamped with ``ingested_at``, timestamped at its event time."""

    def process(self, received: Received) -> Iterator[beam.window.TimestampedValue]:
        event = received.event
        local_acks.expect_row(event.key, received.message_id)  # without dedupe, the first registration
        yield beam.window.TimestampedValue(
            raw_event_row(event, datetime.now(UTC)), Timestamp.from_utc_datetime(event.ts)
        )


def raw_event_row(event: Event, ingested_at: datetime) -> dict[str, Any]:
    """Timestamps as RFC 3339 strings, the form streaming inserts take (see :func:`with_timestamp_objects`)."""
    return {**event.to_dict(), "ingested_at": format_ts(ingested_at)}


def with_timestamp_objects(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """The row for the Storage Write API, whose Beam-row conversion wants Beam Timestamps, not strings."""
    return {k: Timestamp.from_rfc3339(v) if k in fields and isinstance(v, str) else v for k, v in row.items()}


class FailedWriteToDeadLetter(beam.DoFn):
    """A row BigQuery refused (``failed_rows_with_errors``) → a ``write_failed`` dead letter; never dropped."""

    def __init__(self) -> None:
        self.write_failures = counter("write_failures")

    def process(self, failed: tuple[Any, dict[str, Any], Any]) -> Iterator[dict[str, str | None]]:
        _destination, row, errors = failed
        self.write_failures.inc()
        LOG.warning("BigQuery refused row %s: %s", row.get("event_id"), errors)
        payload = json.dumps(row, default=str, sort_keys=True)
        rejection = Rejection(
            "write_failed", json.dumps(errors, default=str), row.get("event_id"), row.get("system_id")
        )
        yield dead_letter_row(payload, rejection)


class LogDeadLetterWriteFailure(beam.DoFn):
    """The last resort: the dead-letter table itself refused a row; log it loudly and count it.

    Its message stays unacknowledged (locally), so Pub/Sub delivers it again to a later job."""

    def __init__(self) -> None:
        self.failures = counter("dead_letter_write_failures")

    def process(self, failed: tuple[Any, dict[str, Any], Any]) -> Iterator[None]:
        self.failures.inc()
        LOG.error("dead-letter write failed, row kept only in this log: %s (%s)", failed[1], failed[2])
        return iter(())
