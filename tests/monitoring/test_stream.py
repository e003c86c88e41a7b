"""The stream monitor alerts at once: an unhealthy verdict in the task's first measurement, a BigQuery that
does not answer after a few measurements inside the same try, a job drained longer than the limit; each as
one alert of its kind, and the task failed (AlertRaised), never green. The measurement is a stand-in here;
tests/dags/test_bikeshare_stream.py runs the real one through dag.test()."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from include.beam.control.job import JobInfo, JobState
from include.beam.control.stream_health import HealthReport, Problem, ProblemKind, StreamUnhealthy
from include.gcp.settings import Settings, SettingsError
from include.monitoring import alerts, stream

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
STALE = Problem(ProblemKind.STALE, "data is stale: newest row ingested 45.0 min ago")
UNREACHABLE = Problem(ProblemKind.BIGQUERY_UNREACHABLE, "BigQuery did not answer within 60 s")


@dataclass
class FakeJob:
    job_state: JobState = JobState.RUNNING

    def state(self) -> JobState:
        return self.job_state

    def last_error(self) -> str:
        return ""


def healthy(state: JobState = JobState.RUNNING) -> HealthReport:
    return HealthReport(NOW, state, NOW - timedelta(minutes=1), None, timedelta(minutes=15), 10, 0)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(alert_log=tmp_path / "alerts.jsonl")


def measurements(monkeypatch: pytest.MonkeyPatch, *outcomes: HealthReport | StreamUnhealthy) -> list[JobState]:
    """check_health answers ``outcomes`` in turn; returns the job states it was called with."""
    calls: list[JobState] = []

    def fake(settings, job_state, **kw):
        calls.append(job_state)
        outcome = outcomes[min(len(calls), len(outcomes)) - 1]
        if isinstance(outcome, StreamUnhealthy):
            raise outcome
        return outcome

    monkeypatch.setattr(stream, "check_health", fake)
    return calls


def running() -> JobInfo:
    return JobInfo(name="bikeshare-stream", job_id="1", state=JobState.RUNNING, created=False)


def test_an_unhealthy_verdict_alerts_in_the_first_measurement_and_fails_the_task(monkeypatch, settings) -> None:
    calls = measurements(monkeypatch, StreamUnhealthy("unhealthy:\n- data is stale", [STALE]), healthy())
    slept: list[float] = []
    ti = SimpleNamespace(dag_id="bikeshare_stream", task_id="monitor", run_id="r1", try_number=1, log_url="u")
    with pytest.raises(alerts.AlertRaised) as raised:
        stream.monitor(settings, FakeJob(), running(), {"ti": ti}, sleep=slept.append)
    assert len(calls) == 1
    assert slept == []
    assert raised.value.kinds == ("stream_unhealthy",)
    (line,) = alerts.read_log(settings)
    assert (line["kind"], line["task_id"], line["details"]["try_number"]) == ("stream_unhealthy", "monitor", 1)
    assert line["details"]["problems"] == ["stale"]
    assert "data is stale" in line["summary"]


def test_an_unreachable_bigquery_is_measured_again_within_the_try(monkeypatch, settings) -> None:
    blip = StreamUnhealthy("cannot be checked", [UNREACHABLE])
    calls = measurements(monkeypatch, blip, healthy())
    slept: list[float] = []
    report = stream.monitor(settings, FakeJob(), running(), sleep=slept.append)
    assert (len(calls), slept, report["problems"]) == (2, [stream.MEASURE_PAUSE_S], [])
    assert alerts.read_log(settings) == []  # a blip is not paged

    calls = measurements(monkeypatch, blip)  # an outage: alerted after MEASURE_ATTEMPTS, in the same try
    with pytest.raises(alerts.AlertRaised):
        stream.monitor(settings, FakeJob(), running(), sleep=slept.append)
    assert len(calls) == stream.MEASURE_ATTEMPTS
    (line,) = alerts.read_log(settings)
    assert (line["kind"], line["details"]["problems"]) == ("stream_unhealthy", ["bigquery_unreachable"])


def drained(hours_ago: float, state: JobState = JobState.DRAINED) -> JobInfo:
    at = (NOW - timedelta(hours=hours_ago)).isoformat()
    return JobInfo(name="bikeshare-stream", job_id="7", state=state, created=False, stopped_at=at)


@pytest.mark.parametrize("state", [JobState.DRAINED, JobState.CANCELLED])
def test_a_job_stopped_on_purpose_alerts_once_it_is_older_than_the_limit(monkeypatch, settings, state) -> None:
    measurements(monkeypatch, healthy(state))  # not judged on its data: the stop was meant
    limit = timedelta(hours=24)
    assert stream.monitor(settings, FakeJob(state), drained(23.5, state), drained_limit=limit)["problems"] == []
    assert alerts.read_log(settings) == []
    with pytest.raises(alerts.AlertRaised) as raised:
        stream.monitor(settings, FakeJob(state), drained(25, state), drained_limit=limit)
    assert raised.value.kinds == ("stream_drained_too_long",)
    (line,) = alerts.read_log(settings)
    assert line["kind"] == "stream_drained_too_long"
    assert line["details"]["stopped_hours"] == 25.0
    assert line["details"]["limit_hours"] == 24
    assert f"has been {state} for 25.0 h" in line["summary"]
    assert line["runbook"].endswith("#stream_drained_too_long")


def test_a_job_started_in_the_run_or_stopped_at_an_unknown_time_is_not_judged_on_its_stop() -> None:
    resumed = JobInfo(name="j", job_id="8", state=JobState.RUNNING, created=True, replaced=JobState.DRAINED)
    assert stream.stopped_for(resumed, NOW) is None
    assert stream.stopped_for(JobInfo(name="j", job_id="7", state=JobState.DRAINED, created=False), NOW) is None
    zulu = JobInfo(name="j", job_id="7", state=JobState.DRAINED, created=False, stopped_at="2026-12-06T10:00:00Z")
    assert stream.stopped_for(zulu, NOW) == timedelta(hours=24)  # Dataflow's currentStateTime form


def test_the_limit_is_configurable() -> None:
    assert stream.drained_alert_limit({}) == timedelta(hours=24)
    assert stream.drained_alert_limit({"BIKESHARE_STREAM_DRAINED_ALERT_HOURS": "0.5"}) == timedelta(minutes=30)
    for bad in ("0", "-1", "a day"):
        with pytest.raises(SettingsError, match="BIKESHARE_STREAM_DRAINED_ALERT_HOURS"):
            stream.drained_alert_limit({"BIKESHARE_STREAM_DRAINED_ALERT_HOURS": bad})


def test_jobinfo_carries_the_stop_time_through_its_xcom() -> None:
    info = drained(2)
    assert JobInfo.from_dict(info.to_dict()) == info
    old = {k: v for k, v in info.to_dict().items() if k != "stopped_at"}  # an XCom from before the field
    assert JobInfo.from_dict(old).stopped_at is None
