"""SkipWritten on the BigQuery emulator: what a restarted local job does with the copies it receives again."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from apache_beam import pvalue
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import Timestamp

from include.beam.pipeline.transforms import DEAD_LETTER, DUPLICATE, Received, SkipWritten
from include.gcp import clients
from include.gcp.events import Event, format_ts
from include.gcp.settings import Settings
from include.gcp.tables import RAW_EVENTS

pytestmark = pytest.mark.integration

TS = datetime(2019, 9, 9, 8, 30, tzinfo=UTC)
WRITTEN = Event(ts=TS, event_id="written-1", station_id="3186", kind="pickup")


def outputs(fn: SkipWritten, elements: list[tuple[Event, float]]) -> dict[str, list[Any]]:
    """Run one bundle through the DoFn: each event with its publish time (epoch seconds)."""
    out: dict[str, list[Any]] = {"main": [], DUPLICATE: [], DEAD_LETTER: []}

    def collect(items: Any) -> None:
        for item in items or ():
            if isinstance(item, pvalue.TaggedOutput):
                out[item.tag].append(item.value.value)
            else:
                out["main"].append(getattr(item, "value", item))

    fn.start_bundle()
    for event, published in elements:
        element = (event.event_id, Received(event, f"m-{event.event_id}", b"{}"))
        collect(fn.process(element, timestamp=Timestamp.of(published), window=GlobalWindow()))
    collect(fn.finish_bundle())
    return out


@pytest.fixture
def skip_written(ingest_settings: Settings) -> SkipWritten:
    table = ingest_settings.table_id(RAW_EVENTS)
    row = {**WRITTEN.to_dict(), "ingested_at": format_ts(TS)}
    assert clients.bigquery_client(ingest_settings).insert_rows_json(table, [row]) == []
    return SkipWritten(table, published_before=time.time())


def test_copies_published_before_the_job_are_looked_up(skip_written: SkipWritten) -> None:
    skip_written.setup()
    before = time.time() - 60
    conflicting = Event(ts=TS, event_id=WRITTEN.event_id, station_id="3187", kind="pickup")
    unseen = Event(ts=TS, event_id="unseen-1", station_id="3186", kind="dropoff")
    out = outputs(skip_written, [(WRITTEN, before), (conflicting, before), (unseen, before)])
    assert [received.event for received in out[DUPLICATE]] == [WRITTEN]  # the exact copy: acked, not written
    assert [row["reason"] for row in out[DEAD_LETTER]] == ["conflicting_duplicate"]
    assert [event_id for event_id, _ in out["main"]] == ["unseen-1"]


def test_messages_published_after_the_job_started_are_not_looked_up(skip_written: SkipWritten) -> None:
    skip_written.setup()
    skip_written._client = None  # a lookup would fail: none may happen
    out = outputs(skip_written, [(WRITTEN, time.time() + 1)])
    # no earlier job can have written it; a copy inside this job meets the in-memory dedupe
    assert [event_id for event_id, _ in out["main"]] == [WRITTEN.event_id]
    assert out[DUPLICATE] == out[DEAD_LETTER] == []
