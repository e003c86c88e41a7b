"""The ingest DoFns on their own: validation rules, dead-letter rows, BigQuery row shapes, dedupe state."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from apache_beam import pvalue
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.utils.timestamp import Timestamp

from include.beam.pipeline import local_acks
from include.beam.pipeline.transforms import (
    DEAD_LETTER,
    DUPLICATE,
    MAX_DEAD_LETTER_PAYLOAD,
    DedupeByEventId,
    FailedWriteToDeadLetter,
    KeyByShard,
    ParseEvents,
    Received,
    dead_letter_row,
    dedupe_shard,
    raw_event_row,
    with_timestamp_objects,
)
from include.gcp.events import Limits, Rejection, format_ts, parse_event
from include.simulator.publish import replay_attributes

GOOD = {
    "system_id": "citibike-jc",
    "event_id": "abc-p",
    "station_id": "3183",
    "ts_iso": "2019-09-01T04:00:37.692Z",
    "kind": "pickup",
    "delta": 1,
}
REPLAY_NOW = datetime(2019, 9, 1, 5, tzinfo=UTC)


def payload(**changes: object) -> bytes:
    record = {**GOOD, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not ...}).encode()


def message(data: bytes, message_id: str = "m1", now: datetime | None = REPLAY_NOW) -> PubsubMessage:
    return PubsubMessage(data, replay_attributes(now) if now else {}, message_id=message_id)


REPLAY_WINDOW = (datetime(2019, 1, 1, tzinfo=UTC), datetime(2019, 10, 2, tzinfo=UTC))  # the data's span


def test_parse_events_judges_time_by_the_chosen_clock() -> None:
    simulated = ParseEvents(replay_window=REPLAY_WINDOW)
    (good,) = simulated.process(message(payload()))
    assert good == ("citibike-jc/abc-p", Received(parse_event(payload()), "m1", payload(), REPLAY_NOW))
    (late,) = ParseEvents().process(message(payload()))  # the wall clock: 2019 is years behind it
    assert late.tag == DEAD_LETTER
    assert late.value["reason"] == "too_late"
    (no_clock,) = simulated.process(message(payload(), now=None))  # no attribute: the wall clock
    assert no_clock.value["reason"] == "too_late"
    with pytest.raises(ValueError, match="empty"):
        ParseEvents(replay_window=(REPLAY_WINDOW[1], REPLAY_WINDOW[0]))


@pytest.mark.parametrize("year", [1900, 2999, 9999])
def test_a_publisher_cannot_move_the_clock_outside_the_datas_span(year: int) -> None:
    """Issue 21 §4: with ``simulated_now`` of 1900, 2999 or 9999 and an event of that time, the
    clock is the wall clock, so the event is too late or in the future, never a row."""
    moment = datetime(year, 6, 1, 12, tzinfo=UTC)
    event = payload(ts_iso=format_ts(moment))
    (out,) = ParseEvents(replay_window=REPLAY_WINDOW).process(message(event, now=moment))
    assert out.tag == DEAD_LETTER
    assert out.value["reason"] == ("too_late" if year < 2026 else "future_ts")
    # inside the span the replay's clock is honoured, and judges the event by it
    (inside,) = ParseEvents(replay_window=REPLAY_WINDOW).process(message(event, now=REPLAY_NOW))
    assert inside.value["reason"] == ("too_late" if year < 2019 else "future_ts")


def test_parse_events_tags_invalid_messages_with_payload_reason_and_ids() -> None:
    (bad,) = ParseEvents(replay_window=REPLAY_WINDOW).process(message(payload(kind="teleport"), "m7"))
    assert isinstance(bad, pvalue.TaggedOutput)
    assert bad.tag == DEAD_LETTER
    assert bad.value["payload"] == payload(kind="teleport").decode()
    assert bad.value["error"].startswith("bad_kind: ")
    assert (bad.value["reason"], bad.value["event_id"], bad.value["message_id"]) == ("bad_kind", "abc-p", "m7")
    datetime.strptime(bad.value["received_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    (plain,) = ParseEvents().process(b"{not json")  # plain bytes (tests' sources): no message id
    assert (plain.value["reason"], plain.value["message_id"], plain.value["event_id"]) == ("bad_json", None, None)


def test_dead_letter_keeps_undecodable_bytes_and_cuts_huge_payloads() -> None:
    assert dead_letter_row(b"a\xffb", Rejection("not_utf8", "x"))["payload"] == "a\\xffb"
    row = dead_letter_row("x" * (MAX_DEAD_LETTER_PAYLOAD + 5), Rejection("bad_json", "y"))
    assert len(row["payload"]) == MAX_DEAD_LETTER_PAYLOAD
    assert row["error"] == f"bad_json: y [payload truncated from {MAX_DEAD_LETTER_PAYLOAD + 5} characters]"
    assert row["reason"] == "bad_json"


def test_raw_event_row_for_streaming_inserts_and_storage_write_api() -> None:
    event = parse_event(payload())
    now = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert raw_event_row(event, now) == {
        "system_id": "citibike-jc",
        "event_id": "abc-p",
        "station_id": "3183",
        "ts_iso": "2019-09-01T04:00:37.692000Z",
        "kind": "pickup",
        "delta": 1,
        "ingested_at": "2026-01-02T03:04:05.000006Z",
    }
    objects = with_timestamp_objects(raw_event_row(event, now), ("ts_iso", "ingested_at"))
    assert objects["ts_iso"] == Timestamp.from_utc_datetime(event.ts)
    assert objects["ingested_at"] == Timestamp.from_utc_datetime(now)
    assert objects["event_id"] == "abc-p"
    dead = with_timestamp_objects(dead_letter_row(b"x", Rejection("bad_json", "y"), now), ("received_at",))
    assert dead["received_at"] == Timestamp.from_utc_datetime(now)


def test_refused_row_becomes_a_dead_letter_with_the_bigquery_error() -> None:
    row = {"event_id": "abc-p", "station_id": "3183"}
    errors = [{"reason": "invalid", "message": "no such field"}]
    (dead,) = FailedWriteToDeadLetter().process(("p.d.raw_events", row, errors))
    assert json.loads(dead["payload"]) == row
    assert dead["error"] == 'write_failed: [{"reason": "invalid", "message": "no such field"}]'
    assert (dead["reason"], dead["event_id"]) == ("write_failed", "abc-p")


class FakeBag:
    """The runner's bag state, in memory: enough to drive the dedupe DoFn without a runner."""

    def __init__(self) -> None:
        self.values: list[tuple[str, int, int]] = []
        self.reads = 0

    def read(self) -> list[tuple[str, int, int]]:
        self.reads += 1
        return list(self.values)

    def add(self, value: tuple[str, int, int]) -> None:
        self.values.append(value)

    def clear(self) -> None:
        self.values = []


class FakeValue:
    def __init__(self) -> None:
        self.value: int | None = None

    def read(self) -> int | None:
        return self.value

    def write(self, value: int) -> None:
        self.value = value

    def clear(self) -> None:
        self.value = None


class FakeTimer:
    def __init__(self) -> None:
        self.at: Timestamp | None = None

    def set(self, ts: Timestamp) -> None:
        self.at = ts


class Shard:
    """One shard's state, timer and the DoFn, as the runner would hand them over."""

    def __init__(self, ttl: int) -> None:
        self.fn = DedupeByEventId(ttl)
        self.bag, self.armed, self.timer = FakeBag(), FakeValue(), FakeTimer()

    def send(self, event_id: str, arrival: float, station_id: str = "3183", system_id: str | None = None) -> str:
        """``first``, ``duplicate`` or the dead letter's reason."""
        record = {"event_id": event_id, "station_id": station_id} | ({"system_id": system_id} if system_id else {})
        event = parse_event(payload(**record), limits=Limits(systems=frozenset({"citibike-jc", "ny", "phx"})))
        (out,) = self.fn.process((0, Received(event, f"m-{event_id}-{arrival}")), Timestamp(arrival), *self.state)
        if isinstance(out, pvalue.TaggedOutput):
            return "duplicate" if out.tag == DUPLICATE else out.value["reason"]
        return "first"

    def ids(self) -> list[tuple[str, int]]:
        """(event_id, arrival µs) of the bag, the default system's key prefix taken off."""
        return sorted((key.removeprefix("citibike-jc/"), arrival) for key, arrival, _ in self.bag.values)

    def fire(self) -> None:
        assert self.timer.at is not None
        fired, self.timer.at = self.timer.at, None
        self.fn.expire(0, fired, *self.state)

    @property
    def state(self) -> tuple[FakeBag, FakeValue, FakeTimer]:
        return self.bag, self.armed, self.timer


def test_dedupe_shard_is_stable_and_spreads_ids() -> None:
    assert dedupe_shard("abc", 256) == 0x352441C2 % 256  # crc32, not the per-process salted hash()
    counts = Counter(dedupe_shard(f"{i:08x}-pickup", 16) for i in range(16_000))
    assert set(counts) == set(range(16))
    assert 800 < min(counts.values()) <= max(counts.values()) < 1200
    (out,) = KeyByShard(16).process(("abc", "event"))
    assert out == (dedupe_shard("abc", 16), "event")
    with pytest.raises(ValueError, match="at least one shard"):
        KeyByShard(0)


def test_one_shard_forgets_each_id_ttl_after_its_own_arrival() -> None:
    shard = Shard(ttl=100)
    shard.fn.start_bundle()
    assert [shard.send("a", 0), shard.send("b", 30), shard.send("a", 50)] == ["first", "first", "duplicate"]
    assert shard.timer.at == Timestamp(100)  # one timer per shard, at the earliest expiry
    assert shard.bag.reads == 1  # read once per bundle, then the bundle's own dict
    shard.fn.start_bundle()
    shard.fire()  # watermark passed 100: a is forgotten, b (expires at 130) is kept and re-arms the timer
    assert shard.ids() == [("b", 30_000_000)]
    assert shard.timer.at == Timestamp(130)
    assert [shard.send("a", 120), shard.send("b", 125)] == ["first", "duplicate"]
    assert shard.timer.at == Timestamp(130)  # an earlier arming is kept
    shard.fire()
    assert shard.ids() == [("a", 120_000_000)]
    assert shard.timer.at == Timestamp(220)
    shard.fire()
    assert shard.bag.values == []
    assert shard.timer.at is None
    assert shard.armed.value is None  # the next id arms the timer again
    shard.fn.start_bundle()
    assert shard.send("b", 400) == "first"
    assert shard.timer.at == Timestamp(500)


def test_an_earlier_arrival_re_arms_the_timer_earlier() -> None:
    """Publish times are only nearly ordered: an id arriving before the armed expiry moves it forward."""
    shard = Shard(ttl=100)
    shard.send("late", 50)
    shard.send("early", 20)
    assert shard.timer.at == Timestamp(120)
    shard.fire()
    assert shard.ids() == [("late", 50_000_000)]


def test_a_copy_with_another_content_is_a_conflicting_duplicate() -> None:
    shard = Shard(ttl=100)
    assert [shard.send("a", 0), shard.send("a", 1, station_id="3184"), shard.send("a", 2)] == [
        "first",
        "conflicting_duplicate",
        "duplicate",
    ]


def test_the_first_copys_message_waits_for_its_row_and_an_identical_copy_does_not() -> None:
    """With a ledger active (the local job), the dedupe registers the first copy's message for its row."""
    ledger = local_acks.activate(local_acks.AckLedger("p.d.raw_events", "p.d.dead"))
    try:
        shard = Shard(ttl=100)
        shard.send("a", 0)
        assert ledger._row_of == {"m-a-0": "citibike-jc/a"}
    finally:
        local_acks.deactivate()


def test_dedupe_needs_a_positive_ttl() -> None:
    with pytest.raises(ValueError, match="TTL must be positive"):
        DedupeByEventId(0)


def test_the_same_event_id_in_two_systems_is_two_first_copies() -> None:
    shard = Shard(86_400)
    assert [shard.send("a", 0, system_id="ny"), shard.send("a", 1, system_id="phx")] == ["first", "first"]
    assert [shard.send("a", 2, system_id="ny"), shard.send("a", 3, station_id="9", system_id="phx")] == [
        "duplicate",
        "conflicting_duplicate",
    ]
