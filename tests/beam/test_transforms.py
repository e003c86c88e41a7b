"""The ingest DoFns on their own: validation rules, dead-letter rows, BigQuery row shapes, dedupe state."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest
from apache_beam import pvalue
from apache_beam.utils.timestamp import Timestamp

from include.beam.transforms import (
    DEAD_LETTER,
    DUPLICATE,
    MAX_DEAD_LETTER_PAYLOAD,
    DedupeByEventId,
    FailedWriteToDeadLetter,
    InvalidEvent,
    KeyByShard,
    ParseEvents,
    ValidEvent,
    dead_letter_row,
    dedupe_shard,
    parse_event,
    raw_event_row,
    with_timestamp_objects,
)

GOOD = {"event_id": "abc-p", "station_id": "3183", "ts_iso": "2019-09-01T04:00:37.692Z", "kind": "pickup", "delta": 1}


def payload(**changes: object) -> bytes:
    record = {**GOOD, **changes}
    return json.dumps({k: v for k, v in record.items() if v is not ...}).encode()


def test_valid_event_is_parsed_in_utc() -> None:
    event = parse_event(payload())
    assert event == ValidEvent("abc-p", "3183", datetime(2019, 9, 1, 4, 0, 37, 692000, tzinfo=UTC), "pickup", 1)
    assert event.ts_iso == "2019-09-01T04:00:37.692000Z"


def test_offsets_are_normalised_and_extra_fields_ignored() -> None:
    event = parse_event(payload(ts_iso="2019-09-01T00:00:37-04:00", kind="dropoff", source="replay"))
    assert event.ts == datetime(2019, 9, 1, 4, 0, 37, tzinfo=UTC)
    assert event.kind == "dropoff"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"\xff\xfe not utf-8", "not_utf8"),
        (b"{not json", "bad_json"),
        (b"", "bad_json"),
        (b"[1, 2]", "not_object"),
        (b'"a string"', "not_object"),
        (payload(kind=...), "missing_field"),
        (payload(delta=None), "missing_field"),
        (payload(event_id=...), "missing_field"),
        (payload(station_id=...), "missing_station"),
        (payload(station_id=""), "missing_station"),
        (payload(station_id="   "), "missing_station"),
        (payload(station_id=3183), "missing_station"),
        (payload(event_id=""), "bad_event_id"),
        (payload(kind="teleport"), "bad_kind"),
        (payload(kind="PICKUP"), "bad_kind"),
        (payload(delta=2), "bad_delta"),
        (payload(delta=0), "bad_delta"),
        (payload(delta=-1), "bad_delta"),
        (payload(delta="1"), "bad_delta"),
        (payload(delta=1.0), "bad_delta"),
        (payload(delta=True), "bad_delta"),
        (payload(ts_iso="2019-09-01T04:00:37"), "bad_ts_iso"),  # no offset: ambiguous
        (payload(ts_iso="2019-09-01"), "bad_ts_iso"),
        (payload(ts_iso="yesterday"), "bad_ts_iso"),
        (payload(ts_iso="2019-13-01T04:00:00Z"), "bad_ts_iso"),
        (payload(ts_iso=1567310437), "bad_ts_iso"),
    ],
)
def test_each_kind_of_invalid_message_has_its_reason(raw: bytes, code: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_event(raw)
    assert err.value.code == code
    assert str(err.value).startswith(f"{code}: ")


def test_parse_events_tags_invalid_messages_with_payload_and_reason() -> None:
    fn = ParseEvents()
    (good,) = fn.process(payload())
    assert good == ("abc-p", parse_event(payload()))
    (bad,) = fn.process(b"{not json")
    assert isinstance(bad, pvalue.TaggedOutput)
    assert bad.tag == DEAD_LETTER
    assert bad.value["payload"] == "{not json"
    assert bad.value["error"].startswith("bad_json: ")
    datetime.strptime(bad.value["received_at"], "%Y-%m-%dT%H:%M:%S.%fZ")


def test_dead_letter_keeps_undecodable_bytes_and_cuts_huge_payloads() -> None:
    assert dead_letter_row(b"a\xffb", "not_utf8: x")["payload"] == "a\\xffb"
    row = dead_letter_row("x" * (MAX_DEAD_LETTER_PAYLOAD + 5), "bad_json: y")
    assert len(row["payload"]) == MAX_DEAD_LETTER_PAYLOAD
    assert row["error"] == f"bad_json: y [payload truncated from {MAX_DEAD_LETTER_PAYLOAD + 5} characters]"


def test_raw_event_row_for_streaming_inserts_and_storage_write_api() -> None:
    event = parse_event(payload())
    now = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert raw_event_row(event, now) == {
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
    dead = with_timestamp_objects(dead_letter_row(b"x", "bad_json: y", now), ("received_at",))
    assert dead["received_at"] == Timestamp.from_utc_datetime(now)


def test_refused_row_becomes_a_dead_letter_with_the_bigquery_error() -> None:
    row = {"event_id": "abc-p", "station_id": "3183"}
    errors = [{"reason": "invalid", "message": "no such field"}]
    (dead,) = FailedWriteToDeadLetter().process(("p.d.raw_events", row, errors))
    assert json.loads(dead["payload"]) == row
    assert dead["error"] == 'write_failed: [{"reason": "invalid", "message": "no such field"}]'


class FakeBag:
    """The runner's bag state, in memory: enough to drive the dedupe DoFn without a runner."""

    def __init__(self) -> None:
        self.values: list[tuple[str, int]] = []
        self.reads = 0

    def read(self) -> list[tuple[str, int]]:
        self.reads += 1
        return list(self.values)

    def add(self, value: tuple[str, int]) -> None:
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

    def send(self, event_id: str, arrival: float) -> str:
        """``first`` or ``duplicate``."""
        (out,) = self.fn.process((0, parse_event(payload(event_id=event_id))), Timestamp(arrival), *self.state)
        return "duplicate" if isinstance(out, pvalue.TaggedOutput) and out.tag == DUPLICATE else "first"

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
    assert shard.bag.values == [("b", 30_000_000)]
    assert shard.timer.at == Timestamp(130)
    assert [shard.send("a", 120), shard.send("b", 125)] == ["first", "duplicate"]
    assert shard.timer.at == Timestamp(130)  # an earlier arming is kept
    shard.fire()
    assert sorted(shard.bag.values) == [("a", 120_000_000)]
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
    assert shard.bag.values == [("late", 50_000_000)]


def test_dedupe_needs_a_positive_ttl() -> None:
    with pytest.raises(ValueError, match="TTL must be positive"):
        DedupeByEventId(0)
