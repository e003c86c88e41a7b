"""The history loader on the local stack: real trips into raw_events, and a rerun adds nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from include.gcp import clients
from include.gcp.settings import Settings
from include.gcp.tables import RAW_EVENTS
from include.simulator.history import load_history
from include.simulator.sources import month_files
from include.simulator.trips import events_from_files

pytestmark = pytest.mark.integration

START = datetime(2019, 9, 2, 12, tzinfo=UTC)
END = datetime(2019, 9, 2, 18, tzinfo=UTC)


@pytest.fixture
def dataset(local_stack: Settings):
    s = local_stack.with_names(dataset=f"history_{uuid.uuid4().hex[:8]}")
    yield s
    clients.bigquery_client(s).delete_dataset(s.dataset, delete_contents=True, not_found_ok=True)


def raw_event_ids(s: Settings) -> list[str]:
    sql = f"select event_id from `{s.table_id(RAW_EVENTS)}` order by event_id"
    return [r.event_id for r in clients.bigquery_client(s).query(sql).result()]


def test_loads_the_window_once_even_when_rerun_or_overlapping(dataset: Settings) -> None:
    expected = sorted(e.event_id for e in events_from_files(month_files("2019-09", dataset.trips_data_dir), START, END))
    first = load_history(["2019-09"], start=START, end=END, settings=dataset)
    assert first.events == first.inserted == len(expected) > 100
    assert raw_event_ids(dataset) == expected

    again = load_history(["2019-09"], start=START, end=END, settings=dataset)
    assert (again.events, again.inserted) == (len(expected), 0)
    wider = load_history(["2019-09"], start=START, end=datetime(2019, 9, 2, 19, tzinfo=UTC), settings=dataset)
    assert wider.inserted == wider.events - len(expected) > 0
    assert len(set(raw_event_ids(dataset))) == len(raw_event_ids(dataset)) == wider.events
