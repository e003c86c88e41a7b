"""A stand-in for the Dataflow REST service (the discovery client's shape), behind the real DataflowHook.

Only the cloud service is faked: ``FakeDataflowHook`` is the provider's ``DataflowHook`` with
``get_conn`` returning this object, so the hook's own code (cancel/drain, get, messages) runs.
"""

from __future__ import annotations

import itertools
from typing import Any

from airflow.providers.google.cloud.hooks.dataflow import DataflowHook

ACTIVE = {"JOB_STATE_RUNNING", "JOB_STATE_PENDING", "JOB_STATE_QUEUED", "JOB_STATE_DRAINING", "JOB_STATE_CANCELLING"}


class _Request:
    def __init__(self, result: Any) -> None:
        self._result = result

    def execute(self, num_retries: int = 0) -> Any:
        return self._result() if callable(self._result) else self._result


class FakeDataflowService:
    """projects().locations().jobs() with list / get / update / messages, in memory."""

    def __init__(self) -> None:
        self.store: dict[str, dict] = {}
        self.updates: list[dict] = []  # every update body the hook sent
        self.messages_by_job: dict[str, list[dict]] = {}
        self._ids = itertools.count(1)

    def add(
        self, name: str, state: str, job_type: str = "JOB_TYPE_STREAMING", messages: list[dict] | None = None
    ) -> dict:
        n = next(self._ids)
        job = {
            "id": f"2026-11-23_00_00_{n:02d}-{n}",
            "name": name,
            "currentState": state,
            "type": job_type,
            "createTime": f"2026-11-23T00:00:{n:02d}Z",
        }
        self.store[job["id"]] = job
        self.messages_by_job[job["id"]] = messages or []
        return job

    # the discovery client's chain
    def projects(self) -> FakeDataflowService:
        return self

    def locations(self) -> FakeDataflowService:
        return self

    def jobs(self) -> FakeDataflowService:
        return self

    def list(self, projectId: str, location: str, filter: str = "ALL", **_: Any) -> _Request:
        def run() -> dict:
            found = [dict(j) for j in self.store.values() if filter != "ACTIVE" or j["currentState"] in ACTIVE]
            return {"jobs": found} if found else {}

        return _Request(run)

    def list_next(self, previous_request: Any, previous_response: Any) -> None:
        return None

    def get(self, projectId: str, location: str, jobId: str, **_: Any) -> _Request:
        def run() -> dict:
            job = self.store[jobId]
            if job["currentState"] == "JOB_STATE_DRAINING":  # draining takes one look to finish
                job["currentState"] = "JOB_STATE_DRAINED"
                return {**job, "currentState": "JOB_STATE_DRAINING"}
            return dict(job)

        return _Request(run)

    def update(self, projectId: str, location: str, jobId: str, body: dict) -> _Request:
        self.updates.append({"jobId": jobId, **body})
        requested = body["requestedState"]
        self.store[jobId]["currentState"] = (
            "JOB_STATE_DRAINING" if requested == "JOB_STATE_DRAINED" else "JOB_STATE_CANCELLED"
        )
        return _Request(lambda: dict(self.store[jobId]))

    def messages(self) -> _Messages:
        return _Messages(self)


class _Messages:
    def __init__(self, service: FakeDataflowService) -> None:
        self._service = service

    def list(self, projectId: str, location: str, jobId: str, **_: Any) -> _Request:
        return _Request({"jobMessages": self._service.messages_by_job.get(jobId, [])})

    def list_next(self, previous_request: Any, previous_response: Any) -> None:
        return None


class FakeDataflowHook(DataflowHook):
    """The provider's hook, talking to :class:`FakeDataflowService` instead of Google."""

    num_retries = 0  # the real property reads the Airflow connection

    def __init__(self, service: FakeDataflowService, **kwargs: Any) -> None:
        super().__init__(gcp_conn_id="google_cloud_default", poll_sleep=0, **kwargs)
        self.service = service

    def get_conn(self) -> FakeDataflowService:  # type: ignore[override]
        return self.service
