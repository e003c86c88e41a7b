"""The local profile's hours without data (include/gcp/data_span.py): outside the replayed events or the feature
store's as_ofs a run has nothing to work on and is skipped; the gcp profile never skips."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from include.gcp import clients, data_span, feature_runs, resources
from include.gcp.raw_events import load_raw_events
from include.gcp.settings import Settings
from include.gcp.tables import RAW_EVENTS_SPEC

FIRST = datetime(2019, 9, 1, 4, 12, tzinfo=UTC)
LAST = datetime(2019, 9, 2, 3, 50, tzinfo=UTC)


@pytest.fixture
def s(test_settings: Settings, request: pytest.FixtureRequest) -> Iterator[Settings]:
    settings = test_settings.with_names(dataset=f"{test_settings.dataset}_span_{request.node.name[5:20]}")
    client = clients.bigquery_client(settings)
    client.create_dataset(settings.dataset, exists_ok=True)
    yield settings
    client.delete_dataset(settings.dataset, delete_contents=True, not_found_ok=True)


def _event(n: int, at: datetime) -> dict:
    return {"event_id": f"e{n}", "station_id": "a", "ts_iso": at.isoformat(), "kind": "pickup", "delta": 1}


def test_without_data_every_hour_is_skipped_locally_and_none_on_gcp(s: Settings) -> None:
    hour = datetime(2026, 12, 7, 9, tzinfo=UTC)
    assert data_span.span(s) == data_span.Span(None, None)  # no tables at all
    assert "no data" in data_span.outside_reason(hour, s)
    assert data_span.outside_reason(hour, replace(s, profile="gcp")) is None  # an outage there: its alerts count


def test_hours_outside_the_replayed_events_are_skipped(s: Settings) -> None:
    resources.ensure_table(RAW_EVENTS_SPEC, s)
    load_raw_events([_event(1, FIRST), _event(2, LAST)], s)
    assert data_span.span(s) == data_span.Span(FIRST, LAST)
    wall_clock = datetime(2026, 12, 7, 9, tzinfo=UTC)
    reason = data_span.outside_reason(wall_clock, s)
    assert "after the data (newest 2019-09-02 03:50 UTC" in reason
    assert "docs/backfills.md" in reason
    assert "before the data" in data_span.outside_reason(datetime(2019, 9, 1, 4, tzinfo=UTC), s)
    for inside in (datetime(2019, 9, 1, 5, tzinfo=UTC), datetime(2019, 9, 2, 4, tzinfo=UTC), LAST + data_span.GRACE):
        assert data_span.outside_reason(inside.replace(minute=0), s) is None
    assert data_span.outside_reason(LAST.replace(minute=0) + data_span.GRACE + timedelta(hours=1), s) is not None


def test_a_feature_build_without_events_counts_as_data(s: Settings) -> None:
    """Test fixtures and scripts build the feature store without raw events: its run log says how far it goes."""
    as_of = datetime(2019, 8, 22, tzinfo=UTC)
    feature_runs.mark_verified("tests.data_span", as_of, s)
    assert data_span.span(s) == data_span.Span(None, as_of)
    assert data_span.outside_reason(as_of, s) is None
    assert data_span.outside_reason(datetime(2019, 1, 1, tzinfo=UTC), s) is None  # no first event to be before
    assert "after the data" in data_span.outside_reason(as_of + timedelta(days=1), s)


def test_the_dags_task_skips_with_the_reason_and_passes_an_hour_inside(s: Settings) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    hour = datetime(2026, 12, 7, 9, tzinfo=UTC)
    with pytest.raises(AirflowSkipException, match="no data"):
        data_span.skip_outside_data(hour, s)
    assert data_span.skip_outside_data(hour, replace(s, profile="gcp")) == "2026-12-07T09:00:00+00:00: within the data"
