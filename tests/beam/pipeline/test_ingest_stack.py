"""Simulator events and malformed messages through Pub/Sub → pipeline → BigQuery, on the local stack.

Every published message must be accounted for exactly once, id by id:
published = rows in raw_events + dead letters + duplicates removed (the pipeline logs each one).
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline as BeamTestPipeline
from apache_beam.testing.test_stream import TestStream as EventStream
from apache_beam.transforms.window import TimestampedValue

from include.beam.control.launch import pipeline_args
from include.beam.control.settings import IngestSettings
from include.beam.pipeline.options import IngestOptions
from include.beam.pipeline.pipeline import write
from include.gcp import clients
from include.gcp.settings import Settings
from include.gcp.tables import RAW_EVENTS, RAW_EVENTS_DEAD_LETTER
from include.simulator.publish import replay_attributes
from include.simulator.sources import month_files
from include.simulator.trips import events_from_files
from tests.beam.pipeline.conftest import running_pipeline

pytestmark = pytest.mark.integration

WINDOW = (datetime(2019, 9, 7, 12, tzinfo=UTC), datetime(2019, 9, 7, 14, tzinfo=UTC))  # 274 real events
DEADLINE_S = 90
DUPLICATE_LINE = re.compile(r"duplicate removed: event_id=(\S+)")


def malformed(real: dict[str, object]) -> dict[bytes, str]:
    """Bad messages built from a real event, with the reason code each must get."""

    def variant(**changes: object) -> bytes:
        return json.dumps({**real, **changes}).encode()

    return {
        b'{"event_id": "x1", "station_id": ': "bad_json",
        variant(event_id="bad-kind", kind="return"): "bad_kind",
        variant(event_id="no-station", station_id=""): "missing_station",
        json.dumps({k: v for k, v in real.items() if k != "station_id"}).encode(): "missing_station",
        variant(event_id="bad-ts", ts_iso="07/09/2019 12:00"): "bad_ts_iso",
        variant(event_id="bad-delta", delta=5): "bad_delta",
        b"\xc3\x28 not utf-8": "not_utf8",
    }


def rows_of(settings: Settings, table: str, columns: str) -> list[dict]:
    bq = clients.bigquery_client(settings)
    return [dict(r) for r in bq.query(f"SELECT {columns} FROM `{settings.table_id(table)}`").result()]


def test_every_published_message_is_accounted_for(ingest_settings: Settings, tmp_path: Path) -> None:
    settings = ingest_settings
    [path] = month_files("2019-09", settings.trips_data_dir)
    events = events_from_files([path], *WINDOW)
    assert 200 <= len(events) <= 400
    bad = malformed(events[0].to_dict())
    duplicates = [events[0].to_json(), events[1].to_json(), events[0].to_json()]  # redelivery-like copies
    messages = [e.to_json() for e in events] + list(bad) + duplicates

    publisher = clients.publisher_client(settings)
    clock = replay_attributes(WINDOW[1])  # the replay has reached the end of its window
    for future in [publisher.publish(settings.topic_path, m, **clock) for m in messages]:
        future.result(timeout=30)

    expected_ids = {e.event_id for e in events}
    log = tmp_path / "pipeline.log"
    with running_pipeline(settings, log) as proc:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            assert proc.poll() is None, f"pipeline exited early:\n{log.read_text()[-3000:]}"
            raw = rows_of(settings, RAW_EVENTS, "event_id, station_id, ts_iso, kind, delta, ingested_at")
            dead = rows_of(settings, RAW_EVENTS_DEAD_LETTER, "payload, reason, received_at")
            removed = DUPLICATE_LINE.findall(log.read_text())
            if len(raw) + len(dead) + len(removed) >= len(messages):
                break
            assert time.monotonic() < deadline, (
                f"after {DEADLINE_S}s: {len(raw)} rows, {len(dead)} dead letters, {len(removed)} duplicates "
                f"of {len(messages)} messages\n{log.read_text()[-3000:]}"
            )
            time.sleep(1)
        time.sleep(2)  # anything arriving after the last message was counted would be extra rows
        raw = rows_of(settings, RAW_EVENTS, "event_id, station_id, ts_iso, kind, delta, ingested_at")
        dead = rows_of(settings, RAW_EVENTS_DEAD_LETTER, "payload, reason, received_at")
        removed = DUPLICATE_LINE.findall(log.read_text())

    # raw_events: every real event exactly once, with its content
    assert Counter(r["event_id"] for r in raw) == Counter(expected_ids)
    by_id = {r["event_id"]: r for r in raw}
    for e in events:
        row = by_id[e.event_id]
        assert (row["station_id"], row["ts_iso"], row["kind"], row["delta"]) == (e.station_id, e.ts, e.kind, 1)
        assert row["ingested_at"] is not None
    # dead letters: every malformed message, with its payload and reason
    got = Counter((d["payload"], d["reason"]) for d in dead)
    assert got == Counter((p.decode("utf-8", errors="backslashreplace"), code) for p, code in bad.items())
    # duplicates: exactly the extra copies
    assert Counter(removed) == Counter([events[0].event_id, events[1].event_id, events[0].event_id])
    # the invariant
    assert len(messages) == len(raw) + len(dead) + len(removed)


def test_rows_bigquery_refuses_reach_the_dead_letter_table(
    ingest_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The write stage with the real BigQuery sink against the emulator, fed by an EventStream.

    Validation keeps every message under 1 KB, so no message can make a row BigQuery refuses any
    more; the stage is fed a 10 MB row directly, which Beam's sink refuses (over the streaming-insert
    payload limit): it must land in the dead letters as ``write_failed``, not vanish.
    """
    for name, value in ingest_settings.emulator_env().items():
        monkeypatch.setenv(name, value)
    ts = "2019-09-07T12:00:00.000000Z"
    good = {"event_id": "ok-1", "station_id": "3183", "ts_iso": ts, "kind": "pickup", "delta": 1, "ingested_at": ts}
    huge = {**good, "event_id": "huge-1", "station_id": "S" * 10_000_000}
    dead = {"payload": "nope", "error": "bad_json: x", "received_at": ts, "reason": "bad_json"}
    opts = PipelineOptions(pipeline_args(ingest_settings, IngestSettings()))
    p = BeamTestPipeline(options=opts, blocking=False)
    # one EventStream (the DirectRunner mixes the outputs of two), split into the two inputs
    tagged = [("row", good), ("row", huge), ("dead", dead)]
    stream = p | EventStream().add_elements([TimestampedValue(t, 1_700_000_000) for t in tagged])
    rows = stream | "Rows" >> beam.FlatMap(lambda t: [t[1]] if t[0] == "row" else [])
    invalid = stream | "Invalid" >> beam.FlatMap(lambda t: [t[1]] if t[0] == "dead" else [])
    write(rows, invalid, opts.view_as(IngestOptions))
    p.run().wait_until_finish()

    raw = rows_of(ingest_settings, RAW_EVENTS, "event_id")
    assert raw == [{"event_id": "ok-1"}]
    dead_rows = rows_of(ingest_settings, RAW_EVENTS_DEAD_LETTER, "payload, error, reason, event_id")
    got = {d["reason"]: d for d in dead_rows}
    assert sorted(got) == ["bad_json", "write_failed"]
    refused = got["write_failed"]
    assert refused["event_id"] == "huge-1"
    assert "exceeds the maximum insert payload size" in refused["error"]
    assert refused["error"].endswith("characters]")  # the 10 MB payload was cut to fit the dead-letter table
    assert '"event_id": "huge-1"' in refused["payload"]
