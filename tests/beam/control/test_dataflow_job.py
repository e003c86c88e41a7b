"""DataflowStreamingJob's decisions, with the real DataflowHook talking to a fake Dataflow service."""

from __future__ import annotations

import time
from dataclasses import replace

import psutil
import pytest

from include.beam.control.job import JobControlError, JobState
from include.beam.control.job_control import streaming_job
from include.beam.control.settings import IngestSettings
from include.beam.control.stream_dataflow import DataflowStreamingJob, launch_and_wait_for_job_id
from include.gcp.settings import Settings
from tests.beam.control.fake_dataflow import FakeDataflowHook, FakeDataflowService

GCP = replace(
    Settings(),
    profile="gcp",
    project="my-project",
    region="europe-west1",
    bucket="my-bucket",
)
INGEST = IngestSettings(service_account="bikeshare-dataflow@my-project.iam.gserviceaccount.com", clock="wall")
NAME = INGEST.job_name


@pytest.fixture(autouse=True)
def gcp_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection the hook reads at construction (no key: the service is faked)."""
    monkeypatch.setenv("AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT", '{"conn_type": "google_cloud_platform"}')


@pytest.fixture
def service() -> FakeDataflowService:
    return FakeDataflowService()


@pytest.fixture
def launches(service: FakeDataflowService) -> list[list[str]]:
    return []


@pytest.fixture
def job(service: FakeDataflowService, launches: list[list[str]]) -> DataflowStreamingJob:
    def launcher(cmd: list[str]) -> str:  # what Dataflow does when the launcher submits
        launches.append(cmd)
        return service.add(NAME, "JOB_STATE_PENDING")["id"]

    return DataflowStreamingJob(GCP, INGEST, hook=FakeDataflowHook(service), launcher=launcher, poll_seconds=0)


def test_the_factory_picks_dataflow_in_the_gcp_profile() -> None:
    assert isinstance(streaming_job(GCP), DataflowStreamingJob)


def test_a_running_job_with_the_name_is_returned_not_launched_again(job, service, launches) -> None:
    running = service.add(NAME, "JOB_STATE_RUNNING")
    info = job.start()
    assert launches == []
    assert not info.created
    assert info.job_id == running["id"]
    assert info.state is JobState.RUNNING
    assert job.state() is JobState.RUNNING


def test_launches_the_pipeline_with_the_profile_argv_when_none_is_active(job, service, launches) -> None:
    service.add(f"{NAME}-backfill", "JOB_STATE_RUNNING")  # a prefix match is another job
    info = job.start()
    assert info.created
    assert info.state is JobState.PENDING
    assert info.replaced is None
    (cmd,) = launches
    assert cmd[1:3] == ["-m", "include.beam.pipeline.pipeline"]
    assert {"--runner=DataflowRunner", f"--job_name={NAME}", "--region=europe-west1"} <= set(cmd)
    assert job.start().job_id == info.job_id  # the second start finds the one just launched
    assert len(launches) == 1


def test_a_failed_job_is_replaced_and_its_error_reported(job, service, launches) -> None:
    error = {"messageImportance": "JOB_MESSAGE_ERROR", "messageText": "Workflow failed: quota exceeded"}
    service.add(NAME, "JOB_STATE_FAILED", messages=[{"messageImportance": "JOB_MESSAGE_BASIC"}, error])
    assert job.state() is JobState.FAILED
    assert job.last_error() == "Workflow failed: quota exceeded"
    info = job.start()
    assert info.created
    assert info.replaced is JobState.FAILED
    assert "quota exceeded" in info.message
    assert len(launches) == 1


@pytest.mark.parametrize("stopped", ["JOB_STATE_DRAINED", "JOB_STATE_CANCELLED"])
def test_a_job_stopped_on_purpose_stays_stopped_unless_resumed(job, service, launches, stopped) -> None:
    service.add(NAME, stopped)["currentStateTime"] = "2026-11-22T10:00:00Z"  # Dataflow's time of the state
    kept = job.start(resume_drained=False)
    assert not kept.created
    assert kept.state.stopped_on_purpose
    assert kept.stopped_at == "2026-11-22T10:00:00Z"  # since when: the monitor's stream_drained_too_long
    assert job.last_error() == ""
    assert launches == []
    assert job.start().created


def test_drain_asks_the_hook_to_drain_never_to_cancel(job, service) -> None:
    running = service.add(NAME, "JOB_STATE_RUNNING")
    assert job.drain(timeout=5) is JobState.DRAINED
    assert service.updates == [{"jobId": running["id"], "requestedState": "JOB_STATE_DRAINED"}]
    assert job.drain(timeout=5) is JobState.DRAINED  # nothing active: nothing asked
    assert len(service.updates) == 1


def test_drain_refuses_a_batch_job_with_the_name(job, service) -> None:
    service.add(NAME, "JOB_STATE_RUNNING", job_type="JOB_TYPE_BATCH")
    with pytest.raises(JobControlError, match="not streaming"):
        job.drain(timeout=5)
    assert service.updates == []


def test_the_launcher_returns_once_dataflow_names_the_job(tmp_path) -> None:
    cmd = [psutil.Process().exe(), "-m", "tests.beam.control.fake_launcher", "--job_name=bikeshare-stream"]
    t0 = time.monotonic()
    assert launch_and_wait_for_job_id(cmd) == "bikeshare-stream-id"
    assert time.monotonic() - t0 < 30  # it did not wait out the launcher's sleep
    leftovers = [
        p for p in psutil.process_iter(["cmdline"]) if "tests.beam.control.fake_launcher" in (p.info["cmdline"] or [])
    ]
    assert leftovers == []


def test_a_launcher_without_a_job_id_fails_with_its_output() -> None:
    cmd = [psutil.Process().exe(), "-m", "tests.beam.control.fake_launcher", "--job_name=x", "--fail"]
    with pytest.raises(JobControlError, match="403 caller does not have"):
        launch_and_wait_for_job_id(cmd)
