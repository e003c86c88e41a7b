"""Freshness, dead-letter share and the health verdict, measured in the emulator's tables."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from include.beam.control import stream_health
from include.beam.control.job import JobInfo, JobState
from include.beam.control.stream_health import (
    HealthReport,
    Problem,
    ProblemKind,
    StreamUnhealthy,
    check_health,
    dead_letter_share,
    freshness,
    judge,
)
from include.gcp import clients
from include.gcp.settings import Endpoint, Settings
from include.gcp.tables import RAW_EVENTS, RAW_EVENTS_DEAD_LETTER

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _report(**kw) -> HealthReport:
    base = dict(
        checked_at=NOW,
        job_state=JobState.RUNNING,
        newest_ingested_at=NOW - timedelta(minutes=2),
        newest_event_ts=None,
        window=timedelta(minutes=15),
        rows_in_window=100,
        dead_letters_in_window=1,
    )
    return HealthReport(**(base | kw))


def test_a_running_job_with_fresh_clean_data_has_no_problems() -> None:
    assert judge(_report()) == []


def test_every_problem_is_named() -> None:
    report = _report(
        job_state=JobState.FAILED, newest_ingested_at=NOW - timedelta(minutes=45), dead_letters_in_window=25
    )
    problems = judge(report, max_staleness=timedelta(minutes=30), max_dead_letter_share=0.05)
    assert [p.kind for p in problems] == [ProblemKind.JOB_NOT_RUNNING, ProblemKind.STALE, ProblemKind.DEAD_LETTER_SHARE]
    assert "FAILED" in problems[0].message
    assert "stale" in problems[1].message
    assert "45.0 min" in problems[1].message
    assert "20.0%" in problems[2].message
    assert "25 of 125" in problems[2].message


def test_an_empty_table_is_a_problem_and_an_idle_window_is_not() -> None:
    problems = judge(_report(newest_ingested_at=None, rows_in_window=0, dead_letters_in_window=0))
    assert problems == [Problem(ProblemKind.NO_ROWS, "raw_events has no rows: nothing has been ingested yet")]


def test_the_report_carries_kinds_and_stays_json_friendly() -> None:
    report = _report(job_state=JobState.PENDING, newest_ingested_at=None, rows_in_window=0, dead_letters_in_window=0)
    report.problems.extend(judge(report))
    assert report.problem_kinds == [ProblemKind.JOB_NOT_RUNNING, ProblemKind.NO_ROWS]
    out = json.loads(json.dumps(report.to_dict()))
    assert out["problems"] == [  # the same words as before problems had kinds
        "streaming job is PENDING, not RUNNING",
        "raw_events has no rows: nothing has been ingested yet",
    ]
    assert out["problem_kinds"] == ["job_not_running", "no_rows"]
    assert str(report.problems[0]) == report.problems[0].message


def test_stream_unhealthy_keeps_its_message_and_problems_through_pickle() -> None:
    problem = Problem(ProblemKind.STALE, "data is stale")
    err = pickle.loads(pickle.dumps(StreamUnhealthy("unhealthy:\n- data is stale", [problem])))
    assert str(err) == "unhealthy:\n- data is stale"
    assert err.problems == (problem,)
    assert pickle.loads(pickle.dumps(StreamUnhealthy("no problems given"))).problems == ()


@pytest.mark.integration
def test_measures_freshness_and_dead_letter_share_in_bigquery(stream_settings: Settings) -> None:
    s = stream_settings
    bq = clients.bigquery_client(s)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [
        {
            "event_id": f"h{i}",
            "station_id": "1",
            "ts_iso": "2019-09-01T00:00:00Z",
            "kind": "pickup",
            "delta": 1,
            "ingested_at": (now - timedelta(minutes=m)).isoformat(),
        }
        for i, m in enumerate((3, 5, 40))
    ]
    rows.append({**rows[0], "event_id": "h-new", "station_id": "Z9"})  # a station no earlier row had
    assert bq.insert_rows_json(s.table_id(RAW_EVENTS), rows) == []
    dead = {"payload": "{", "error": "bad json", "received_at": (now - timedelta(minutes=1)).isoformat()}
    assert bq.insert_rows_json(s.table_id(RAW_EVENTS_DEAD_LETTER), [dead]) == []

    assert freshness(s, now=now) == timedelta(minutes=3)
    assert dead_letter_share(s, timedelta(minutes=15), now=now) == pytest.approx(1 / 4)  # 3 rows + 1 dead letter
    assert dead_letter_share(s, timedelta(seconds=30), now=now) is None

    report = check_health(s, JobState.RUNNING, max_dead_letter_share=0.5, now=now)
    assert report.ok
    assert report.to_dict()["staleness_seconds"] == 180
    assert (report.to_dict()["new_station"], report.new_stations) == (1, ["Z9"])  # "1" was seen 40 min ago
    assert any("new station(s) not in the stations seed: Z9" in n for n in report.notes)
    assert report.dead_letters_by_reason == {"bad json": 1}  # a row from before the reason column
    with pytest.raises(StreamUnhealthy, match=r"dead-letter share 25\.0%"):
        check_health(s, JobState.RUNNING, now=now)


@pytest.mark.integration
def test_the_verdict_depends_on_what_the_start_step_did(stream_settings: Settings) -> None:
    s = stream_settings  # empty tables: nothing ingested yet

    def info(**kw) -> JobInfo:
        return JobInfo(**({"name": "j", "job_id": "1", "state": JobState.RUNNING, "created": True} | kw))

    fresh = check_health(s, JobState.PENDING, started=info(state=JobState.PENDING))
    assert fresh.ok
    assert fresh.notes == ["new job, not judged yet: raw_events has no rows: nothing has been ingested yet"]
    running = check_health(s, JobState.FAILED, started=info(), raise_on_problem=False)  # new, already failed
    assert running.problem_kinds == [ProblemKind.JOB_NOT_RUNNING]  # only the job's state is judged yet

    drained = check_health(s, JobState.DRAINED, started=info(state=JobState.DRAINED, created=False))
    assert drained.ok

    with pytest.raises(StreamUnhealthy, match=r"(?s)no rows.*ended FAILED: OOM in ParseEvents") as raised:
        check_health(s, JobState.RUNNING, started=info(replaced=JobState.FAILED, message="OOM in ParseEvents"))
    assert [p.kind for p in raised.value.problems] == [ProblemKind.NO_ROWS]
    with pytest.raises(StreamUnhealthy, match=r"(?s)streaming job is FAILED.*ended FAILED: Traceback"):
        check_health(s, JobState.FAILED, started=info(created=False), job_error="Traceback …")


@pytest.mark.integration
def test_bigquery_unreachable_is_reported_not_waited_for(
    stream_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_health, "QUERY_DEADLINE_S", 2.0)
    away = replace(stream_settings, bigquery=Endpoint("127.0.0.1", 9))  # nothing listens there
    report = check_health(away, JobState.RUNNING, raise_on_problem=False)
    assert report.problem_kinds == [ProblemKind.BIGQUERY_UNREACHABLE]
    assert "BigQuery did not answer within 2 s" in report.problems[0].message
    with pytest.raises(StreamUnhealthy, match="cannot be checked") as raised:
        check_health(away, JobState.RUNNING)
    assert [p.kind for p in raised.value.problems] == [ProblemKind.BIGQUERY_UNREACHABLE]
