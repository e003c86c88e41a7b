"""The local streaming job as a real background process on the local stack (a stand-in pipeline)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime

import psutil
import pytest

from include.beam.control.job import JobControlError, JobState
from include.beam.control.job_control import streaming_job
from include.beam.control.settings import IngestSettings
from include.beam.control.stream_health import check_health
from include.beam.control.stream_local import LocalStreamingJob, _Record
from include.gcp import clients
from include.gcp.settings import Settings
from include.simulator.publish import replay_attributes
from tests.beam.control.conftest import ingest_of
from tests.conftest import ROOT

REPLAY_CLOCK = replay_attributes(datetime(2019, 9, 1, 4, 5, tzinfo=UTC))  # the events are of 2019-09-01 04:00

DUMMY = "tests.beam.control.dummy_pipeline"


def _job(settings: Settings, **kw) -> LocalStreamingJob:
    kw = {"startup_grace": 3, **kw}  # the stand-in starts fast
    return LocalStreamingJob(settings, ingest_of(settings), module=DUMMY, **kw)


def _processes_of(job: LocalStreamingJob) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if DUMMY in cmd and f"--job_name={job.name}" in cmd:
            found.append(p)
    return found


def _wait_for(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_factory_picks_the_local_job(stream_settings: Settings) -> None:
    assert isinstance(streaming_job(stream_settings), LocalStreamingJob)


@pytest.mark.integration
def test_start_is_idempotent_monitor_sees_data_and_drain_stops(stream_settings: Settings) -> None:
    s = stream_settings
    job = _job(s)
    assert job.state() is JobState.NOT_FOUND

    first = job.start()
    assert first.created
    assert first.state is JobState.RUNNING
    again = _job(s).start()  # a second controller, as a retry or another trigger would have
    assert not again.created
    assert again.job_id == first.job_id
    assert len(_processes_of(job)) == 1

    publisher = clients.publisher_client(s)
    events = [
        {
            "system_id": "citibike-jc",
            "event_id": f"e{i}",
            "station_id": "3186",
            "ts_iso": "2019-09-01T04:00:00.000Z",
            "kind": "pickup",
            "delta": 1,
        }
        for i in range(3)
    ]
    for payload in [*(json.dumps(e).encode() for e in events), b"not json"]:
        publisher.publish(s.topic_path, payload, **REPLAY_CLOCK).result()
    _wait_for(lambda: check_health(s, job.state(), raise_on_problem=False).rows_in_window == 3)
    report = check_health(s, job.state(), max_dead_letter_share=0.5)
    assert report.ok
    assert report.staleness.total_seconds() < 60
    assert report.dead_letters_in_window == 1

    assert job.drain(timeout=20) is JobState.DRAINED
    assert _processes_of(job) == []
    assert "SIGINT, stopped" in job.log_tail()
    kept = _job(s).start(resume_drained=False)  # a scheduled run leaves a drained job stopped
    assert not kept.created
    assert kept.state is JobState.DRAINED
    assert job.drain() is JobState.DRAINED  # draining a stopped job changes nothing


@pytest.mark.integration
def test_a_crashed_job_is_reported_failed_and_replaced(stream_settings: Settings) -> None:
    job = _job(stream_settings)
    first = job.start()
    _wait_for(lambda: "dummy pipeline: running" in job.log_tail())
    os.kill(int(first.job_id), signal.SIGKILL)
    _wait_for(lambda: job.state() is JobState.FAILED, timeout=10)
    assert "dummy pipeline: running" in job.last_error()

    second = _job(stream_settings).start()
    try:
        assert second.created
        assert second.replaced is JobState.FAILED
        assert second.job_id != first.job_id
        assert second.details["restarts"] == 1
        assert "dummy pipeline: running" in second.message  # the failed job's log tail says what it did
        assert len(_processes_of(job)) == 1
    finally:
        job.drain(timeout=20)


def test_a_job_that_dies_at_once_fails_the_start_with_its_log(stream_settings: Settings) -> None:
    job = _job(
        stream_settings,
        startup_grace=60,
        argv_factory=lambda s, ingest: [
            f"--job_name={ingest.job_name}",
            "--subscription=x",
            "--raw_events_table=x",
            "--dead_letter_table=x",
            "--crash",
        ],
    )
    with pytest.raises(JobControlError, match="crashing on purpose"):
        job.start()
    assert job.state() is JobState.FAILED


def test_a_reused_pid_is_not_mistaken_for_the_job(tmp_path) -> None:
    job = LocalStreamingJob(replace(Settings(), state_dir=tmp_path), IngestSettings(job_name="pid-reuse"))
    me = psutil.Process()
    record = _Record(name=job.name, pid=me.pid, create_time=me.create_time(), argv=[], started_at="")
    job._save(record)
    assert job.state() is JobState.RUNNING  # pid and start time match: it is "the job"
    job._save(replace(record, create_time=me.create_time() - 3600))
    assert job.state() is JobState.FAILED  # same pid, another process: the job is gone


def test_a_job_stopped_on_purpose_says_since_when(tmp_path) -> None:
    """The stop time a scheduled run's start step reports (JobInfo.stopped_at): the drain marker's, which the
    pipeline writes when a drain settled; a forced stop has none, the record's own then."""
    job = LocalStreamingJob(replace(Settings(), state_dir=tmp_path), IngestSettings(job_name="since-when"))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    record = _Record(name=job.name, pid=gone.pid, create_time=0.0, argv=[], started_at="2026-11-01T00:00:00+00:00")
    job._save(record)
    job.drain_marker.write_text(json.dumps({"pid": gone.pid, "signal": "SIGTERM", "at": "2026-11-20T08:00:00+00:00"}))
    found = job.start(resume_drained=False)
    assert (found.created, found.state, found.stopped_at) == (False, JobState.DRAINED, "2026-11-20T08:00:00+00:00")
    job.drain_marker.unlink()  # a drain forced with SIGKILL: no marker
    forced = replace(record, drain_requested_at="2026-11-21T07:50:00+00:00", stopped_by="SIGKILL")
    job._save(replace(forced, stopped_at="2026-11-21T08:00:35+00:00"))
    found = job.start(resume_drained=False)
    assert (found.state, found.stopped_at) == (JobState.CANCELLED, "2026-11-21T08:00:35+00:00")


@pytest.mark.integration
def test_the_job_outlives_the_process_that_started_it(stream_settings: Settings) -> None:
    """As in Airflow: one task process starts the job and exits; later tasks see and drain it."""
    s = stream_settings
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BIKESHARE_BQ_DATASET": s.dataset,
        "BIKESHARE_PUBSUB_TOPIC": s.topic,
        "BIKESHARE_PUBSUB_SUBSCRIPTION": s.subscription,
        "BIKESHARE_DATAFLOW_JOB_NAME": ingest_of(s).job_name,
        "BIKESHARE_STATE_DIR": str(s.state_dir),
    }
    code = (
        "from include.gcp.settings import get_settings\n"
        "from include.beam.control.stream_local import LocalStreamingJob\n"
        f"print(LocalStreamingJob(get_settings(), module={DUMMY!r}, startup_grace=1).start().job_id)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120)
    pid = int(out.stdout.split()[-1])
    job = _job(s)
    assert job.state() is JobState.RUNNING  # the starter is gone; the job is not its child any more
    assert psutil.Process(pid).ppid() != os.getpid()
    assert job.start().job_id == str(pid)
    assert job.drain(timeout=20) is JobState.DRAINED
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


@pytest.mark.integration
def test_the_command_line_starts_reports_and_drains(stream_settings: Settings, monkeypatch, capsys) -> None:
    from include.beam.control import stream_ctl
    from include.gcp.settings import get_settings

    s = stream_settings
    for key, value in {
        "BIKESHARE_BQ_DATASET": s.dataset,
        "BIKESHARE_PUBSUB_TOPIC": s.topic,
        "BIKESHARE_PUBSUB_SUBSCRIPTION": s.subscription,
        "BIKESHARE_DATAFLOW_JOB_NAME": ingest_of(s).job_name,
        "BIKESHARE_STATE_DIR": str(s.state_dir),
    }.items():
        monkeypatch.setenv(key, value)
    # the job name from the environment, as in the command a user types
    monkeypatch.setattr(
        stream_ctl, "streaming_job", lambda: LocalStreamingJob(get_settings(), module=DUMMY, startup_grace=1)
    )
    get_settings.cache_clear()
    try:
        assert stream_ctl.main(["start"]) == 0
        assert json.loads(capsys.readouterr().out)["state"] == "RUNNING"
        assert stream_ctl.main(["state"]) == 0
        assert json.loads(capsys.readouterr().out)["state"] == "RUNNING"
        assert stream_ctl.main(["drain", "--timeout", "20"]) == 0
        assert json.loads(capsys.readouterr().out)["state"] == "DRAINED"
    finally:
        get_settings.cache_clear()
