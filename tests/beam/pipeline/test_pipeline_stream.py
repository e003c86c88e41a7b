"""The pipeline on the DirectRunner with an EventStream (TestStream) source: valid, invalid, duplicate, late data.

Element timestamps in the stream are arrival (publish) times; the events' own ``ts_iso`` lie years
earlier, as in a replay of trip files, whose clock each message carries (``simulated_now``).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import apache_beam as beam
import pytest
from apache_beam.io.gcp.pubsub import PubsubMessage
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as EventStream
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import TimestampedValue
from apache_beam.utils.timestamp import Timestamp

from include.beam.pipeline.options import DEDUPE_SHARDS, IngestOptions
from include.beam.pipeline.pipeline import process
from include.beam.pipeline.transforms import NAMESPACE
from include.simulator.publish import replay_attributes

ARRIVAL = 1_700_000_000  # seconds; the stream's arrival (publish) times
REPLAY_NOW = datetime(2019, 9, 1, 5, 0, tzinfo=UTC)  # the replay's clock in every message
WINDOW_FLAGS = ["--replay_clock_from=2019-01-01T00:00:00+00:00", "--replay_clock_to=2019-10-02T00:00:00+00:00"]
TTL = 3600


def event(event_id: str, ts_iso: str = "2019-09-01T04:00:00Z", **changes: object) -> bytes:
    record = {
        "system_id": "citibike-jc",
        "event_id": event_id,
        "station_id": "3183",
        "ts_iso": ts_iso,
        "kind": "pickup",
        "delta": 1,
    }
    return json.dumps({**record, **changes}).encode()


def at(offset: float, *payloads: bytes) -> list[TimestampedValue]:
    """Messages as ReadFromPubSub(with_attributes=True) gives them, arriving at ``offset``."""
    return [
        TimestampedValue(PubsubMessage(p, replay_attributes(REPLAY_NOW), message_id=f"m{offset}-{i}"), ARRIVAL + offset)
        for i, p in enumerate(payloads)
    ]


def options(shards: int = DEDUPE_SHARDS) -> PipelineOptions:
    flags = [f"--dedupe_ttl_seconds={TTL}", f"--dedupe_shards={shards}", "--event_clock=simulated", *WINDOW_FLAGS]
    return PipelineOptions(["--runner=BundleBasedDirectRunner", "--streaming", *flags])


def counters(result: beam.runners.runner.PipelineResult) -> dict[str, int]:
    query = result.metrics().query(beam.metrics.MetricsFilter().with_namespace(NAMESPACE))
    totals: dict[str, int] = {}
    for c in query["counters"]:
        totals[c.key.metric.name] = totals.get(c.key.metric.name, 0) + c.committed
    return totals


def run(
    stream: EventStream, rows: list, dead: list, duplicates: tuple[str, ...] = (), shards: int = DEDUPE_SHARDS
) -> dict[str, int]:
    """Run ``process`` on the stream, assert all outputs; return the counters.

    ``rows`` are ``(event_id, ts_iso, element timestamp)``, ``dead`` are ``(payload, reason code)``.
    """
    p = BeamTestPipeline(options=options(shards), blocking=False)
    out = process(p | stream, options(shards).view_as(IngestOptions))
    got_rows = out.rows | "RowKeys" >> beam.Map(lambda r, t=beam.DoFn.TimestampParam: (r["event_id"], r["ts_iso"], t))
    assert_that(got_rows, equal_to(rows), label="Rows")
    got_dead = out.dead_letters | "DeadKeys" >> beam.Map(lambda d: (d["payload"], d["error"].split(":")[0]))
    assert_that(got_dead, equal_to(dead), label="DeadLetters")
    got_duplicates = out.duplicates | "DuplicateIds" >> beam.Map(lambda r: r.event.event_id)
    assert_that(got_duplicates, equal_to(list(duplicates)), label="Duplicates")
    result = p.run()
    result.wait_until_finish()
    return counters(result)


def test_valid_events_become_rows_timestamped_at_their_event_time() -> None:
    stream = (
        EventStream()
        .add_elements(at(0, event("a", "2019-09-01T04:00:00Z"), event("b", "2019-09-01T05:30:00.250+01:00")))
        .advance_watermark_to_infinity()
    )
    rows = [
        ("a", "2019-09-01T04:00:00.000000Z", Timestamp.from_rfc3339("2019-09-01T04:00:00Z")),
        ("b", "2019-09-01T04:30:00.250000Z", Timestamp.from_rfc3339("2019-09-01T04:30:00.250Z")),
    ]
    assert run(stream, rows, []) == {"messages_in": 2, "valid": 2}


def test_every_invalid_message_reaches_the_dead_letters_with_its_reason() -> None:
    bad = {
        b"{oops": "bad_json",
        b"\xff": "not_utf8",
        b"[]": "not_object",
        event("c", kind="teleport"): "bad_kind",
        event("d", station_id=""): "missing_station",
        event("e", ts_iso="2019-09-01 04:00"): "bad_ts_iso",
        event("f", delta=2): "bad_delta",
        json.dumps({"event_id": "g"}).encode(): "missing_field",
    }
    stream = EventStream().add_elements(at(0, event("ok"), *bad)).advance_watermark_to_infinity()
    ok = [("ok", "2019-09-01T04:00:00.000000Z", Timestamp.from_rfc3339("2019-09-01T04:00:00Z"))]
    dead = [(p.decode("utf-8", errors="backslashreplace"), code) for p, code in bad.items()]
    metrics = run(stream, ok, dead)
    assert (metrics["messages_in"], metrics["valid"], metrics["invalid"]) == (9, 1, 8)
    assert all(metrics[f"invalid_{code}"] == 1 for code in bad.values())


@pytest.mark.parametrize("shards", [1, DEDUPE_SHARDS])
def test_duplicates_are_removed_counted_and_late_data_is_kept(shards: int) -> None:
    """One shard holds every id (each forgotten on its own TTL by the shard's one timer); many hold one each."""
    stream = (
        EventStream()
        .add_elements(at(0, event("a"), event("b"), event("a")))  # duplicate in one bundle
        .advance_watermark_to(ARRIVAL + 60)
        .add_elements(at(10, event("c", "2019-08-31T00:00:00Z"), event("b")))  # late arrivals, one duplicate
        .add_elements(at(70, event("a")))  # duplicate in a later bundle
        .advance_watermark_to(ARRIVAL + 5 + TTL)  # past the ttl of a and b (arrived at 0), not of c (at 10)
        .add_elements(at(TTL + 40, event("c", "2019-08-31T00:00:00Z")))  # c still remembered
        .advance_watermark_to(ARRIVAL + 20 + 2 * TTL)
        .add_elements(at(2 * TTL + 30, event("a")))  # forgotten after the ttl: passes again
        .advance_watermark_to_infinity()
    )
    sept = ("2019-09-01T04:00:00.000000Z", Timestamp.from_rfc3339("2019-09-01T04:00:00Z"))
    late = ("c", "2019-08-31T00:00:00.000000Z", Timestamp.from_rfc3339("2019-08-31T00:00:00Z"))
    rows = [("a", *sept), ("b", *sept), late, ("a", *sept)]
    # in = rows + dead letters + duplicates: 8 = 4 + 0 + 4 (the DirectRunner's streaming counters
    # keep only the first bundle per worker thread, so the outputs are asserted, not the counters)
    run(stream, rows, [], duplicates=("a", "b", "a", "c"), shards=shards)


def test_counters_of_one_bundle() -> None:
    stream = EventStream().add_elements(at(0, event("a"), event("a"), b"{", event("b"))).advance_watermark_to_infinity()
    rows = [(i, "2019-09-01T04:00:00.000000Z", Timestamp.from_rfc3339("2019-09-01T04:00:00Z")) for i in "ab"]
    metrics = run(stream, rows, [("{", "bad_json")], duplicates=("a",))
    # Dedupe runs one bundle per key, so its counter may fall into that DirectRunner gap; parsing does not
    assert {k: v for k, v in metrics.items() if k != "duplicates"} == {
        "messages_in": 4,
        "valid": 3,
        "invalid": 1,
        "invalid_bad_json": 1,
    }


def test_dedupe_can_be_left_to_the_sink() -> None:
    """``--dedupe_ttl_seconds=0``: no keyed state (the DirectRunner's cost, see the benchmark)."""
    opts = PipelineOptions(
        [
            "--runner=BundleBasedDirectRunner",
            "--streaming",
            "--dedupe_ttl_seconds=0",
            "--event_clock=simulated",
            *WINDOW_FLAGS,
        ]
    )
    p = BeamTestPipeline(options=opts, blocking=False)
    stream = EventStream().add_elements(at(0, event("a"), event("a"))).advance_watermark_to_infinity()
    out = process(p | stream, opts.view_as(IngestOptions))
    assert_that(out.rows | beam.Map(lambda r: r["event_id"]), equal_to(["a", "a"]), label="Rows")
    assert_that(out.duplicates, equal_to([]), label="Duplicates")
    p.run().wait_until_finish()


def test_poisons_late_future_and_conflicting_copies_are_dead_letters_and_the_rest_flows() -> None:
    """The four payloads that stopped the pipeline on c4895d2, amid valid events; the time window
    follows the replay's clock; a second copy of an id with another content is a dead letter."""
    poisons = {
        b"[" * 100_000: "too_large",
        event("p1", kind=["pickup"]): "bad_kind",
        event("p2", ts_iso="0001-01-01T00:00:00+01:00"): "bad_ts_iso",
        b"1" * 5_000: "too_large",
        event("old", ts_iso="2019-08-30T04:59:00Z"): "too_late",  # 48 h 1 min before the replay's clock
        event("ahead", ts_iso="2019-09-01T05:06:00Z"): "future_ts",
        event("v1", station_id="3184"): "conflicting_duplicate",  # v1 first came at station 3183
    }
    valid = [event(f"v{i}") for i in range(1, 4)]
    stream = (
        EventStream()
        .add_elements(at(0, *valid[:2]))
        .add_elements(at(1, *poisons))
        .add_elements(at(2, valid[2], event("late-ok", ts_iso="2019-08-30T05:01:00Z")))
        .advance_watermark_to_infinity()
    )
    sept = ("2019-09-01T04:00:00.000000Z", Timestamp.from_rfc3339("2019-09-01T04:00:00Z"))
    rows = [(f"v{i}", *sept) for i in range(1, 4)]
    rows.append(("late-ok", "2019-08-30T05:01:00.000000Z", Timestamp.from_rfc3339("2019-08-30T05:01:00Z")))
    dead = [(p.decode(), code) for p, code in poisons.items() if code != "conflicting_duplicate"]

    dead.append((event("v1", station_id="3184").decode(), "conflicting_duplicate"))  # the copy as received
    run(stream, rows, dead)
