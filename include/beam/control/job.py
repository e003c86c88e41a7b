"""The streaming job's types, shared by every backend and by the DAG: no backend, no Beam.

:class:`StreamingJob` is the interface; :class:`JobState` its life cycle in the same words for both
backends; :class:`JobInfo` what a start found or did; :class:`JobControlError` what a start or drain
raises. The backends (:mod:`~include.beam.control.stream_local`, :mod:`~include.beam.control.stream_dataflow`)
import this module only; the factory (:func:`include.beam.control.job_control.streaming_job`) imports
them, so the import graph has no cycle.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class JobState(StrEnum):
    """The job's life cycle, the same words for both backends (Dataflow's states, shortened)."""

    NOT_FOUND = "NOT_FOUND"  # never started (or its record is gone)
    PENDING = "PENDING"  # submitted, not yet running
    RUNNING = "RUNNING"
    DRAINING = "DRAINING"  # stop requested: finishing what it has read, reading nothing new
    DRAINED = "DRAINED"  # stopped on purpose after a drain
    DONE = "DONE"  # ended by itself without error (a streaming job should not)
    CANCELLED = "CANCELLED"  # stopped without draining: by hand, or a drain that had to be forced
    FAILED = "FAILED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_active(self) -> bool:
        """A job in this state holds the name: starting another would make a duplicate."""
        return self in (JobState.PENDING, JobState.RUNNING, JobState.DRAINING, JobState.UNKNOWN)

    @property
    def is_failure(self) -> bool:
        """Ended without being asked to: the next start replaces it and says why."""
        return self in (JobState.FAILED, JobState.DONE)

    @property
    def stopped_on_purpose(self) -> bool:
        """Drained, or cancelled by someone: a scheduled run leaves it stopped."""
        return self in (JobState.DRAINED, JobState.CANCELLED)


@dataclass(frozen=True)
class JobInfo:
    """What :meth:`StreamingJob.start` found or did; JSON-friendly via :meth:`to_dict` (an XCom)."""

    name: str
    job_id: str  # the Dataflow job id, or the local process id
    state: JobState
    created: bool  # True when this call launched the job
    replaced: JobState | None = None  # the state of the ended job this start replaced, if any
    message: str = ""  # why the replaced job ended (log tail / Dataflow message), or a note
    details: dict[str, Any] = field(default_factory=dict)  # backend facts: pid, log file, console URL
    # when a job stopped on purpose stopped (ISO 8601, UTC): the local drain marker's time, Dataflow's
    # currentStateTime; None when running, or when the backend cannot tell
    stopped_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["state"] = str(self.state)
        out["replaced"] = str(self.replaced) if self.replaced else None
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobInfo:
        replaced = data.get("replaced")
        return cls(**{**data, "state": JobState(data["state"]), "replaced": JobState(replaced) if replaced else None})


class JobControlError(RuntimeError):
    """The job could not be started (or died at once), or stopped; the message carries the reason."""


class StreamingJob(Protocol):
    """Start / state / drain of the one streaming job with the settings' job name."""

    name: str

    def start(self, *, resume_drained: bool = True) -> JobInfo:
        """Launch the job unless one with the name is active; then return that one.

        A job that ended without being asked to (failed) is replaced. A job stopped on purpose
        (drained or cancelled) is started again only when ``resume_drained`` (a scheduled run
        passes False: it stays stopped until someone starts it).
        """
        ...

    def state(self) -> JobState: ...

    def last_error(self) -> str:
        """Why the job ended, in the backend's words (log tail, Dataflow error messages); or ""."""
        ...

    def drain(self, timeout: float = 300.0) -> JobState:
        """Stop reading new messages, finish the in-flight ones, and wait up to ``timeout`` s."""
        ...
