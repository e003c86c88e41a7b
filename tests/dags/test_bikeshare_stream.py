"""The streaming DAG run for real with dag.test() on the local stack, driving the real pipeline.

One scenario, in order, because each step builds on the last: start; a second run finds the job
running (same pid, one process) and the monitor reports the fresh data; a crashed job is replaced
by the next run; a drain stops it; a scheduled run leaves the drained job stopped. Then the monitor's
alerts, with a stand-in for the job (no pipeline): an unhealthy stream alerts in the monitor's first try,
a job drained longer than BIKESHARE_STREAM_DRAINED_ALERT_HOURS alerts, a younger drain does not.
(Observed: on the same DAG object, params given to one ``dag.test(run_conf=…)`` carry over to the
next call, so every run here passes its action.)
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import psutil
import pytest

from include.beam.control.job import JobState
from include.beam.control.job_control import streaming_job
from include.beam.control.settings import IngestSettings
from include.beam.control.stream_health import check_health
from include.beam.control.stream_local import LocalStreamingJob, _Record
from include.gcp import clients
from include.gcp.settings import Settings
from include.monitoring import alerts
from include.simulator.publish import replay_attributes
from tests.conftest import DAGS_FOLDER, dag_settings

REPLAY_CLOCK = replay_attributes(datetime(2019, 9, 1, 4, 5, tzinfo=UTC))  # the events are of 2019-09-01 04:00

pytestmark = [pytest.mark.integration, pytest.mark.airflow]


@pytest.fixture
def stream_env(monkeypatch: pytest.MonkeyPatch, local_stack: Settings, tmp_path):
    extra = {"DATAFLOW_JOB_NAME": "{tag}", "STATE_DIR": str(tmp_path / "state"), "ALERT_LOG": str(tmp_path / "a.jsonl")}
    with dag_settings(monkeypatch, "dagstream-", **extra) as settings:
        try:
            yield settings
        finally:
            streaming_job(settings).drain(timeout=30)  # never leave a pipeline behind, whatever failed


def _pipelines(name: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        cmd = p.info["cmdline"] or []
        if "include.beam.pipeline.stream_drain" in cmd and f"--job_name={name}" in cmd and p.info["status"] != "zombie":
            found.append(p)
    return found


def _xcom(run, task_id: str):
    return run.get_task_instance(task_id).xcom_pull(task_ids=task_id)


def test_start_find_monitor_drain(airflow_db, stream_env: Settings) -> None:
    from airflow.dag_processing.dagbag import DagBag

    s = stream_env
    name = IngestSettings.from_env(s.profile).job_name  # BIKESHARE_DATAFLOW_JOB_NAME, which the tasks read
    assert name.startswith("dagstream-")
    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_stream")

    first = dag.test()
    assert first.state == "success"
    started = _xcom(first, "start_job")
    assert started["created"]
    assert started["state"] == "RUNNING"
    assert [str(p.pid) for p in _pipelines(name)] == [started["job_id"]]

    publisher = clients.publisher_client(s)
    for i in range(5):
        event = {
            "system_id": "citibike-jc",
            "event_id": f"dag-{i}",
            "station_id": "3186",
            "ts_iso": "2019-09-01T04:00:00.000Z",
            "kind": "dropoff",
            "delta": 1,
        }
        publisher.publish(s.topic_path, json.dumps(event).encode(), **REPLAY_CLOCK).result()
    publisher.publish(s.topic_path, b'{"event_id": "broken"}', **REPLAY_CLOCK).result()
    deadline = time.monotonic() + 90
    while check_health(s, JobState.RUNNING, raise_on_problem=False).rows_in_window < 5:
        assert time.monotonic() < deadline, "the pipeline wrote nothing in 90 s"
        time.sleep(1)

    second = dag.test(run_conf={"max_dead_letter_share": 0.5})
    assert second.state == "success"
    found = _xcom(second, "start_job")
    assert not found["created"]
    assert found["job_id"] == started["job_id"]  # the same process, no second one
    assert len(_pipelines(name)) == 1
    report = _xcom(second, "monitor")
    assert report["problems"] == []
    assert report["job_state"] == "RUNNING"
    assert report["rows_in_window"] == 5
    assert report["dead_letters_in_window"] == 1
    assert report["staleness_seconds"] < 120

    os.kill(int(started["job_id"]), signal.SIGKILL)  # the pipeline crashes
    restarted = dag.test(run_conf={"action": "run", "max_dead_letter_share": 0.5})
    assert restarted.state == "success"  # replaced; the data it wrote before is still fresh
    replaced = _xcom(restarted, "start_job")
    assert replaced["created"]
    assert replaced["replaced"] == "FAILED"
    assert replaced["job_id"] != started["job_id"]
    assert "start (restart 0)" in replaced["message"]  # the crashed job's log tail
    assert any("restarted in this run after the job ended FAILED" in n for n in _xcom(restarted, "monitor")["notes"])
    assert [str(p.pid) for p in _pipelines(name)] == [replaced["job_id"]]

    drained = dag.test(run_conf={"action": "drain", "drain_timeout_seconds": 60})
    assert drained.state == "success"
    assert _xcom(drained, "drain_job") == "DRAINED"
    assert _pipelines(name) == []

    scheduled = dag.test(run_conf={"action": "run"})  # as scheduled: a drained job stays stopped
    assert scheduled.state == "success"
    assert _xcom(scheduled, "start_job")["state"] == "DRAINED"
    since = datetime.fromisoformat(_xcom(scheduled, "start_job")["stopped_at"])  # the real drain's marker
    assert timedelta(0) <= datetime.now(UTC) - since < timedelta(minutes=10)  # younger than the limit: quiet
    assert alerts.read_log(s) == []
    assert _pipelines(name) == []


def _stand_in(s: Settings, pid: int, create_time: float, drained_at: datetime | None = None) -> str:
    """The job's state file (and its drain marker) as the local job leaves them, for a process of the test's."""
    job = LocalStreamingJob(s)
    job._save(
        _Record(name=job.name, pid=pid, create_time=create_time, argv=[], started_at=datetime.now(UTC).isoformat())
    )
    if drained_at is not None:  # what the pipeline writes when a drain settled (SIGTERM: a container stop)
        job.drain_marker.write_text(json.dumps({"pid": pid, "signal": "SIGTERM", "at": drained_at.isoformat()}))
    return job.name


def test_an_unhealthy_stream_alerts_in_the_monitors_first_try(airflow_db, stream_env: Settings) -> None:
    """Measurement retries do not delay the alert: the monitor's first try sends it and fails, not retried."""
    from airflow.dag_processing.dagbag import DagBag

    s = stream_env
    stand_in = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # "RUNNING", writes nothing
    try:
        _stand_in(s, stand_in.pid, psutil.Process(stand_in.pid).create_time())
        dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_stream")
        run = dag.test(run_conf={"action": "run"})
        assert run.state == "failed"
        assert _xcom(run, "start_job")["state"] == "RUNNING"  # found, not started: no pipeline in this test
        monitor = run.get_task_instance("monitor")
        assert (monitor.state, monitor.try_number) == ("failed", 1)
        (line,) = alerts.read_log(s)  # exactly one: no task_failed after it, no retry alerting again
        assert line["kind"] == "stream_unhealthy"
        assert line["task_id"] == "monitor"
        assert line["details"]["try_number"] == 1
        assert line["details"]["problems"] == ["no_rows"]
        assert monitor.start_date <= datetime.fromisoformat(line["at"]) <= monitor.end_date  # within that try
    finally:
        stand_in.kill()
        stand_in.wait()


def test_a_job_drained_longer_than_the_limit_alerts(airflow_db, stream_env: Settings, monkeypatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    s = stream_env
    monkeypatch.setenv("BIKESHARE_STREAM_DRAINED_ALERT_HOURS", "24")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # the drained pipeline's process: exited
    gone.wait()
    dag = DagBag(dag_folder=DAGS_FOLDER).get_dag("bikeshare_stream")

    _stand_in(s, gone.pid, 0.0, drained_at=datetime.now(UTC) - timedelta(hours=23))
    young = dag.test(run_conf={"action": "run"})
    assert young.state == "success"
    assert _xcom(young, "start_job")["state"] == "DRAINED"
    assert any("on purpose; not judged" in n for n in _xcom(young, "monitor")["notes"])
    assert alerts.read_log(s) == []

    drained_at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=25)
    _stand_in(s, gone.pid, 0.0, drained_at=drained_at)
    old = dag.test(run_conf={"action": "run"})
    assert old.state == "failed"
    assert _xcom(old, "start_job")["stopped_at"] == drained_at.isoformat()
    monitor = old.get_task_instance("monitor")
    assert (monitor.state, monitor.try_number) == ("failed", 1)
    (line,) = alerts.read_log(s)
    assert line["kind"] == "stream_drained_too_long"
    assert line["details"]["stopped_at"] == drained_at.isoformat()
    assert line["details"]["limit_hours"] == 24
    assert line["runbook"].endswith("#stream_drained_too_long")
