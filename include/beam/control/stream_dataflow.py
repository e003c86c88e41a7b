"""The streaming job on Dataflow, through the Google provider's ``DataflowHook``.

- **No duplicates.** Dataflow's ``check_if_running`` does not cover Python pipelines, so
  :meth:`DataflowStreamingJob.start` lists the project's *active* jobs and looks for this exact
  name first; only if there is none does it launch. (Dataflow itself also refuses a second active
  job with the same name, which covers the race of two launches at the same instant.)
- **Launch** as ``BeamRunPythonPipelineOperator`` does: run ``python -m include.beam.pipeline.pipeline``
  with the profile's argv (``py_interpreter=sys.executable``, so the venv's Beam is used), read
  its output until Dataflow's "Created job with id: [...]" line, and return. The launcher process
  is then stopped: the submitted job runs on Dataflow, independent of it.
- **Stop = drain, never cancel:** ``hook.cancel_job`` with ``drain_pipeline=True`` asks Dataflow
  for ``JOB_STATE_DRAINED`` on a streaming job; a job that is not streaming is refused.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from include.beam.control.job import JobControlError, JobInfo, JobState
from include.beam.control.launch import ArgvFactory, pipeline_args
from include.beam.control.settings import IngestSettings
from include.beam.pipeline import PIPELINE_MODULE
from include.gcp.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

GCP_CONN_ID = "google_cloud_default"
LAUNCH_TIMEOUT_S = 900.0  # staging the package and submitting can take minutes
STREAMING = "JOB_TYPE_STREAMING"

Launcher = Callable[[list[str]], str]  # the launch command -> the Dataflow job id

_STATES = {
    "JOB_STATE_RUNNING": JobState.RUNNING,
    "JOB_STATE_PENDING": JobState.PENDING,
    "JOB_STATE_QUEUED": JobState.PENDING,
    "JOB_STATE_STOPPED": JobState.PENDING,  # "not yet started" in Dataflow's words
    "JOB_STATE_DRAINING": JobState.DRAINING,
    "JOB_STATE_DRAINED": JobState.DRAINED,
    "JOB_STATE_DONE": JobState.DONE,
    "JOB_STATE_UPDATED": JobState.DONE,
    "JOB_STATE_FAILED": JobState.FAILED,
    "JOB_STATE_CANCELLING": JobState.CANCELLED,
    "JOB_STATE_CANCELLED": JobState.CANCELLED,
}


def job_state(dataflow_state: str | None) -> JobState:
    return _STATES.get(dataflow_state or "", JobState.UNKNOWN)


def launch_and_wait_for_job_id(cmd: list[str], timeout: float = LAUNCH_TIMEOUT_S) -> str:
    """Run the launcher until it prints the Dataflow job id; then stop it and return the id."""
    from airflow.providers.google.cloud.hooks.dataflow import process_line_and_extract_dataflow_job_id_callback

    found: list[str] = []
    on_line = process_line_and_extract_dataflow_job_id_callback(found.append)
    tail: list[str] = []
    proc = subprocess.Popen(  # the same interpreter and project root as the Airflow worker
        cmd, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.info("launcher: %s", line.rstrip())
            tail = [*tail[-30:], line.rstrip()]
            on_line(line)
            if found:
                break
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.terminate()  # it would only wait on the job; the job itself runs on Dataflow
        proc.wait(timeout=30)
    if not found:
        raise JobControlError(
            f"the launcher exited (code {proc.returncode}) without a Dataflow job id:\n" + "\n".join(tail)
        )
    return found[0]


class DataflowStreamingJob:
    """:class:`~include.beam.control.job.StreamingJob` on Dataflow (``gcp`` profile)."""

    def __init__(
        self,
        settings: Settings,
        ingest: IngestSettings | None = None,
        *,
        hook: Any | None = None,
        launcher: Launcher = launch_and_wait_for_job_id,
        module: str = PIPELINE_MODULE,
        argv_factory: ArgvFactory = pipeline_args,
        python: str = sys.executable,
        poll_seconds: float = 10.0,
    ) -> None:
        self.settings = settings
        self.ingest = ingest or IngestSettings.from_env(settings.profile)
        self.name = self.ingest.job_name
        self._hook = hook
        self.launcher = launcher
        self.module = module
        self.argv_factory = argv_factory
        self.python = python
        self.poll_seconds = poll_seconds

    @property
    def hook(self) -> Any:
        """The provider's DataflowHook, made on first use (it reads the Airflow connection)."""
        if self._hook is None:
            from airflow.providers.google.cloud.hooks.dataflow import DataflowHook

            self._hook = DataflowHook(gcp_conn_id=GCP_CONN_ID, drain_pipeline=True)
        return self._hook

    @property
    def _where(self) -> dict[str, str]:
        return {"project_id": self.settings.project, "location": self.settings.region}

    # --- the interface -------------------------------------------------------------------------

    def start(self, *, resume_drained: bool = True) -> JobInfo:
        active = self._jobs(active_only=True)
        if active:
            return self._info(active[0], created=False)
        latest = self._latest()
        previous = job_state(latest["currentState"]) if latest else None
        if latest and previous and previous.stopped_on_purpose and not resume_drained:
            return self._info(latest, created=False, message=f"{previous} on purpose; start it explicitly to resume")
        reason = self._failure_reason(latest) if previous and previous.is_failure else ""
        if reason:
            log.warning("Dataflow job %s (%s) had ended %s: %s", self.name, latest["id"], previous, reason)
        cmd = [self.python, "-m", self.module, *self.argv_factory(self.settings, self.ingest)]
        job_id = self.launcher(cmd)
        log.info("launched Dataflow job %s: %s", self.name, job_id)
        job = self.hook.get_job(job_id=job_id, **self._where)
        return self._info(job, created=True, replaced=previous, message=reason)

    def state(self) -> JobState:
        active = self._jobs(active_only=True)
        job = active[0] if active else self._latest()
        return job_state(job["currentState"]) if job else JobState.NOT_FOUND

    def last_error(self) -> str:
        latest = self._latest()
        return self._failure_reason(latest) if latest and job_state(latest["currentState"]).is_failure else ""

    def drain(self, timeout: float = 300.0) -> JobState:
        active = self._jobs(active_only=True)
        if not active:
            return self.state()
        for job in active:
            if job.get("type") != STREAMING:
                raise JobControlError(
                    f"Dataflow job {job['id']} is {job.get('type')}, not streaming: refusing to cancel it"
                )
            if job["currentState"] != "JOB_STATE_DRAINING":
                self.hook.drain_pipeline = True  # the hook then asks for DRAINED, never CANCELLED
                self.hook.cancel_timeout = None  # we wait below, without the hook's SIGALRM timer
                self.hook.cancel_job(job_id=job["id"], **self._where)
                log.info("asked Dataflow to drain job %s (%s)", self.name, job["id"])
        deadline = time.monotonic() + timeout
        ids = [job["id"] for job in active]
        while True:
            states = [job_state(self.hook.get_job(job_id=i, **self._where)["currentState"]) for i in ids]
            if all(not s.is_active for s in states) or time.monotonic() >= deadline:
                return states[0] if len(set(states)) == 1 else JobState.DRAINING
            time.sleep(self.poll_seconds)

    # --- helpers -------------------------------------------------------------------------------

    def _jobs(self, *, active_only: bool) -> list[dict]:
        """Jobs with exactly this name (Dataflow's own lookups match prefixes), newest first."""
        service = self.hook.get_conn().projects().locations().jobs()
        request = service.list(
            projectId=self.settings.project, location=self.settings.region, filter="ACTIVE" if active_only else "ALL"
        )
        jobs: list[dict] = []
        while request is not None:
            response = request.execute(num_retries=self.hook.num_retries)
            jobs += [job for job in response.get("jobs", []) if job.get("name") == self.name]
            request = service.list_next(previous_request=request, previous_response=response)
        return sorted(jobs, key=lambda job: job.get("createTime", ""), reverse=True)

    def _latest(self) -> dict | None:
        jobs = self._jobs(active_only=False)
        return jobs[0] if jobs else None

    def _failure_reason(self, job: dict) -> str:
        """Dataflow's error messages for a job, newest last: what the DAG log should say."""
        messages = self.hook.fetch_job_messages_by_id(job_id=job["id"], **self._where)
        errors = [m.get("messageText", "") for m in messages if m.get("messageImportance") == "JOB_MESSAGE_ERROR"]
        return "\n".join(errors[-5:]) or f"ended in {job['currentState']} with no error message"

    def _info(self, job: dict, **kw: Any) -> JobInfo:
        region, project = self.settings.region, self.settings.project
        console = f"https://console.cloud.google.com/dataflow/jobs/{region}/{job['id']}?project={project}"
        details = {"console": console, "dataflow_state": job.get("currentState"), "created": job.get("createTime")}
        state = job_state(job.get("currentState"))
        if state.stopped_on_purpose:  # Dataflow's time of the current state: when the drain (or cancel) ended
            kw.setdefault("stopped_at", job.get("currentStateTime"))
        return JobInfo(name=self.name, job_id=job["id"], state=state, details=details, **kw)
