"""SkipWritten on the BigQuery emulator: a new job meets copies of what an earlier job wrote."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from apache_beam import pvalue

from include.beam.pipeline import written_ids
from include.beam.pipeline.transforms import DEAD_LETTER, DUPLICATE, Received, SkipWritten
from include.gcp import clients
from include.gcp.events import Event, format_ts
from include.gcp.settings import Settings
from include.gcp.tables import RAW_EVENTS

pytestmark = pytest.mark.integration

TS = datetime(2019, 9, 9, 8, 30, tzinfo=UTC)
CLOCK = TS + timedelta(hours=1)  # the replay's clock when the copies arrive
WRITTEN = Event(ts=TS - timedelta(days=1), event_id="written-1", station_id="3186", kind="pickup")


def outputs(fn: SkipWritten, events: list[Event]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"main": [], DUPLICATE: [], DEAD_LETTER: []}
    for event in events:
        for item in fn.process((event.event_id, Received(event, f"m-{event.event_id}", b"{}", CLOCK))):
            if isinstance(item, pvalue.TaggedOutput):
                out[item.tag].append(item.value)
            else:
                out["main"].append(item)
    return out


@pytest.fixture
def skip_written(ingest_settings: Settings) -> Iterator[SkipWritten]:
    """A new job's SkipWritten; raw_events holds what an earlier job wrote the day before."""
    table = ingest_settings.table_id(RAW_EVENTS)
    row = {**WRITTEN.to_dict(), "ingested_at": format_ts(TS)}
    assert clients.bigquery_client(ingest_settings).insert_rows_json(table, [row]) == []
    written_ids.forget_all()
    fn = SkipWritten(table)
    fn.setup()
    yield fn
    written_ids.forget_all()


def test_copies_of_what_an_earlier_job_wrote_are_found_whenever_published(skip_written: SkipWritten) -> None:
    conflicting = Event(ts=TS, event_id=WRITTEN.event_id, station_id="3187", kind="pickup")
    unseen = Event(ts=TS, event_id="unseen-1", station_id="3186", kind="dropoff")
    out = outputs(skip_written, [WRITTEN, conflicting, unseen, unseen])
    assert [received.event for received in out[DUPLICATE]] == [WRITTEN, unseen]  # exact copies: acked, not written
    assert [row["reason"] for row in out[DEAD_LETTER]] == ["conflicting_duplicate"]
    assert [event_id for event_id, _ in out["main"]] == ["unseen-1"]  # once
    assert skip_written._ids is not None
    assert skip_written._ids.loads == 3  # one query per day of the window


def test_every_instance_in_the_process_shares_what_was_passed(skip_written: SkipWritten) -> None:
    """The DirectRunner runs several instances in threads: a copy meeting another one is still found."""
    other = SkipWritten(skip_written.table)
    other.setup()
    unseen = Event(ts=TS, event_id="unseen-2", station_id="3186", kind="dropoff")
    assert len(outputs(skip_written, [unseen])["main"]) == 1
    assert len(outputs(other, [unseen])[DUPLICATE]) == 1
