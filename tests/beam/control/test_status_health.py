"""The stream health check covers the GBFS station status (include/beam/control/stream_health.py): older than
3 x ttl, or never read while the feed fails, is a problem that fails the monitor and alerts stream_unhealthy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.beam.control.job import JobState
from include.beam.control.stream_health import (
    HealthReport,
    ProblemKind,
    StatusFreshness,
    StreamUnhealthy,
    check_health,
    judge,
)
from include.gbfs.poll import poll
from include.gbfs.settings import GbfsSettings
from include.gcp import clients, resources
from include.gcp.settings import Settings
from include.gcp.tables import RAW_EVENTS
from include.monitoring.alerts import kind_of_failure
from tests.gbfs.fake_feed import fake_feed, gbfs_dataset, station_information, station_status

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _report(status: StatusFreshness | None) -> HealthReport:
    return HealthReport(
        checked_at=NOW,
        job_state=JobState.RUNNING,
        newest_ingested_at=NOW - timedelta(minutes=1),
        newest_event_ts=None,
        window=timedelta(minutes=15),
        rows_in_window=10,
        dead_letters_in_window=0,
        status=status,
    )


def _kinds(status: StatusFreshness | None) -> list[ProblemKind]:
    return [p.kind for p in judge(_report(status))]


def test_status_older_than_three_ttls_is_a_problem() -> None:
    assert _kinds(StatusFreshness(NOW - timedelta(minutes=5), ttl=120)) == []  # limit 6 min
    assert _kinds(StatusFreshness(NOW - timedelta(minutes=7), ttl=120)) == [ProblemKind.STATION_STATUS_STALE]
    # a ttl under the poller's minute counts as a minute: 3 min
    assert _kinds(StatusFreshness(NOW - timedelta(minutes=2), ttl=5)) == []
    assert _kinds(StatusFreshness(NOW - timedelta(minutes=4), ttl=5)) == [ProblemKind.STATION_STATUS_STALE]
    # on the wall clock the file's own age counts: fetched a minute ago, but 10 minutes old then
    assert _kinds(StatusFreshness(NOW - timedelta(minutes=1), ttl=60, lag_seconds=600)) == [
        ProblemKind.STATION_STATUS_STALE
    ]


def test_the_problem_names_the_system_whose_feed_is_stale() -> None:
    (problem,) = judge(_report(StatusFreshness(NOW - timedelta(minutes=7), ttl=120, system_id="phx")))
    assert problem.message.startswith("station status of system phx is stale: 7.0 min old")


def test_never_read_is_a_problem_only_when_the_feed_is_failing() -> None:
    assert _kinds(None) == []  # not measured
    assert _kinds(StatusFreshness(None)) == []  # nothing tried: a note in check_health
    problems = judge(_report(StatusFreshness(None, dead_letters_by_reason={"http_error": 15})))
    assert [p.kind for p in problems] == [ProblemKind.STATION_STATUS_STALE]
    assert "http_error 15" in problems[0].message


@pytest.mark.integration
def test_the_monitor_fails_on_a_stale_status_read_from_bigquery(test_settings: Settings) -> None:
    # a dataset of its own: an event in the session's raw_events would change the dbt tests' fleet
    with gbfs_dataset(test_settings) as s:
        resources.ensure_bigquery(s)  # raw_events, its dead letters and the rest, as a deployment has
        _stale_status_is_a_problem(s)


def _stale_status_is_a_problem(s: Settings) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    bq = clients.bigquery_client(s)
    event = {"event_id": f"sh-{now.timestamp()}", "station_id": "1", "ts_iso": "2019-09-01T00:00:00Z"}
    row = {**event, "kind": "pickup", "delta": 1, "ingested_at": now.isoformat()}
    assert bq.insert_rows_json(s.table_id(RAW_EVENTS), [row]) == []

    with fake_feed() as feed:
        feed.discovery(last_updated=int(now.timestamp()))
        feed.information([station_information("A", 10)], int(now.timestamp()))
        feed.set("/station_status.json", b"down", status=502)
        gbfs = GbfsSettings(url=f"{feed.url}/gbfs.json", clock="wall", timeout_seconds=2)
        poll(s, gbfs, now=now)
        report = check_health(s, JobState.RUNNING, now=now + timedelta(minutes=1), raise_on_problem=False)
        assert report.problem_kinds == [ProblemKind.STATION_STATUS_STALE]  # never read, and the feed fails
        assert report.to_dict()["station_status"]["gbfs_dead_letters_by_reason"] == {"http_error": 1}

        feed.status([station_status("A", 3, 7, now - timedelta(seconds=20))], int(now.timestamp()), ttl=60)
        poll(s, gbfs, now=now + timedelta(minutes=1))
        fresh = check_health(s, JobState.RUNNING, now=now + timedelta(minutes=2), raise_on_problem=False)
        assert fresh.problem_kinds == []
        assert fresh.to_dict()["station_status"]["age_seconds"] == 120  # 60 s since the fetch + 60 s old then

    with pytest.raises(StreamUnhealthy, match="station status of system citibike-jc is stale") as caught:
        check_health(s, JobState.RUNNING, now=now + timedelta(minutes=4), window=timedelta(hours=1))
    assert kind_of_failure(caught.value) == "stream_unhealthy"  # the alert the monitor's failure sends
