"""The streaming job on this machine: the pipeline on the DirectRunner as a background process.

State lives in ``<state_dir>/stream``: ``<job name>.json`` (pid, process start time, argv,
log file, restarts, whether a drain was asked for), ``<job name>.log`` (the pipeline's output,
appended across restarts) and ``<job name>.lock`` (one start or drain at a time, across processes).

- The process is ours only if the pid is alive *and* its start time equals the recorded one, so a
  pid reused by another program after a reboot or crash is never mistaken for the job.
- A streaming pipeline never ends by itself: a process that is gone without a drain was a failure,
  and the next :meth:`LocalStreamingJob.start` replaces it and reports the end of its log.
- **What "drain" means locally.** The DirectRunner has no drain, so the job runs the pipeline
  through :mod:`include.beam.pipeline.stream_drain`, which makes SIGINT and SIGTERM one: stop pulling
  from Pub/Sub (nothing more is acknowledged; unread messages wait for the next job), let the bundles
  in flight reach BigQuery, exit. The controller sends SIGINT and waits up to the timeout; only then
  SIGTERM (a second signal: stop now) and SIGKILL to the process group, reported as CANCELLED, not
  DRAINED. A SIGTERM from elsewhere (a container stop, ``kill``) drains the same way; the pipeline
  then leaves ``<job name>.drained`` (its pid and signal), so the job reads DRAINED, not FAILED.
- **Since when.** A job stopped on purpose carries its stop time (:attr:`JobInfo.stopped_at`, for the
  monitor's ``stream_drained_too_long``): the drain marker's ``at``, else the record's ``stopped_at`` (a forced
  stop), else when the drain was asked for, else the state file's last write.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import psutil

from include.beam.control.job import JobControlError, JobInfo, JobState
from include.beam.control.launch import ArgvFactory, pipeline_args
from include.beam.control.settings import IngestSettings
from include.beam.pipeline import DRAINABLE_PIPELINE
from include.gcp.settings import PROJECT_ROOT, Settings

log = logging.getLogger(__name__)

FORCE_GRACE_S = 10.0  # after the drain timeout: how long SIGTERM gets before SIGKILL
LOG_TAIL_BYTES = 2_000


@dataclass(frozen=True)
class _Record:
    """The state file: everything needed to find (and not mistake) the process later."""

    name: str
    pid: int
    create_time: float  # psutil's process start time: guards against pid reuse
    argv: list[str]
    started_at: str
    restarts: int = 0
    drain_requested_at: str | None = None
    stopped_by: str | None = None  # the signal that ended a drain: SIGINT, SIGTERM or SIGKILL
    stopped_at: str | None = None  # when that drain ended the process


class LocalStreamingJob:
    """:class:`~include.beam.control.job.StreamingJob` as a background DirectRunner process."""

    def __init__(
        self,
        settings: Settings,
        ingest: IngestSettings | None = None,
        *,
        module: str = DRAINABLE_PIPELINE,
        argv_factory: ArgvFactory = pipeline_args,
        python: str = sys.executable,
        startup_grace: float = 15.0,
    ) -> None:
        self.settings = settings
        self.ingest = ingest or IngestSettings.from_env(settings.profile)
        self.name = self.ingest.job_name
        self.module = module
        self.argv_factory = argv_factory
        self.python = python
        self.startup_grace = startup_grace
        self.dir = settings.state_dir / "stream"
        self._children: dict[int, subprocess.Popen[bytes]] = {}  # reaped here, so none stays a zombie

    @property
    def state_file(self) -> Path:
        return self.dir / f"{self.name}.json"

    @property
    def log_file(self) -> Path:
        return self.dir / f"{self.name}.log"

    @property
    def drain_marker(self) -> Path:
        """Written by the pipeline when a drain settled (:mod:`include.beam.pipeline.stream_drain`)."""
        return self.dir / f"{self.name}.drained"

    # --- the interface -------------------------------------------------------------------------

    def start(self, *, resume_drained: bool = True) -> JobInfo:
        with self._lock():
            record = self._load()
            state = self._state_of(record)
            if record and (state.is_active or (state.stopped_on_purpose and not resume_drained)):
                if state.stopped_on_purpose:
                    note = f"{state} on purpose; start it explicitly to resume"
                    return self._info(record, state, created=False, message=note, stopped_at=self._stopped_at(record))
                return self._info(record, state, created=False, message="")
            replaced = state if record else None
            reason = self.log_tail() if state.is_failure else ""
            if state.is_failure:
                log.warning("streaming job %s had ended (%s); restarting. Log tail:\n%s", self.name, state, reason)
            restarts = record.restarts + 1 if record and state.is_failure else 0
            new = self._launch(restarts)
            self._save(new)
            self._wait_startup(new)
            return self._info(new, JobState.RUNNING, created=True, replaced=replaced, message=reason)

    def state(self) -> JobState:
        return self._state_of(self._load())

    def last_error(self) -> str:
        return self.log_tail() if self.state().is_failure else ""

    def drain(self, timeout: float = 300.0) -> JobState:
        with self._lock():
            record = self._load()
            if record is None or not self._alive(record):
                return self._state_of(record)
            asked_before = record.drain_requested_at is not None  # a drain whose caller died mid-wait
            if not asked_before:
                record = replace(record, drain_requested_at=_now())
                self._save(record)
            for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, FORCE_GRACE_S), (signal.SIGKILL, 5.0)):
                if not (sig is signal.SIGINT and asked_before):  # a second SIGINT would mean "stop now"
                    self._signal(record, sig)
                if self._wait_gone(record, wait):
                    self._save(replace(record, stopped_by=sig.name, stopped_at=_now()))
                    if sig is not signal.SIGINT:
                        log.warning(
                            "streaming job %s did not stop within %.0fs; forced with %s", self.name, timeout, sig.name
                        )
                    return self.state()
            raise JobControlError(f"streaming job {self.name} (pid {record.pid}) survived SIGKILL")

    # --- helpers -------------------------------------------------------------------------------

    def log_tail(self, max_bytes: int = LOG_TAIL_BYTES) -> str:
        """The end of the pipeline's log: why a job failed, for the task log and the error."""
        try:
            with self.log_file.open("rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - max_bytes))
                return f.read().decode(errors="replace").strip()
        except FileNotFoundError:
            return ""

    def _launch(self, restarts: int) -> _Record:
        argv = self.argv_factory(self.settings, self.ingest)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.drain_marker.unlink(missing_ok=True)
        marker = [f"--drain_marker={self.drain_marker}"] if self.module == DRAINABLE_PIPELINE else []
        cmd = [self.python, "-m", self.module, *marker, *argv]
        with self.log_file.open("ab") as out:
            out.write(f"\n=== {_now()} start (restart {restarts}): {' '.join(cmd)}\n".encode())
            out.flush()
            proc = subprocess.Popen(  # our own interpreter and module
                cmd,
                cwd=PROJECT_ROOT,  # ``-m include.…`` resolves from the project root
                env={**os.environ, **self.settings.emulator_env()},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives the task that started it; its own process group
            )
        self._children[proc.pid] = proc
        log.info("started streaming job %s: pid %s, log %s", self.name, proc.pid, self.log_file)
        return _Record(
            name=self.name,
            pid=proc.pid,
            create_time=psutil.Process(proc.pid).create_time(),
            argv=argv,
            started_at=_now(),
            restarts=restarts,
        )

    def _wait_startup(self, record: _Record) -> None:
        """A pipeline that dies at once (bad argv, missing table) fails the start, with its log."""
        if self._wait_gone(record, self.startup_grace):
            raise JobControlError(
                f"streaming job {self.name} exited within {self.startup_grace:.0f}s of starting; "
                f"log {self.log_file}:\n{self.log_tail()}"
            )

    def _state_of(self, record: _Record | None) -> JobState:
        if record is None:
            return JobState.NOT_FOUND
        if self._alive(record):
            return JobState.DRAINING if record.drain_requested_at else JobState.RUNNING
        if record.drain_requested_at:
            return JobState.DRAINED if record.stopped_by in (None, "SIGINT") else JobState.CANCELLED
        if self._drained_on_signal(record):
            return JobState.DRAINED
        return JobState.FAILED

    def _drained_on_signal(self, record: _Record) -> str | None:
        """The signal this very process drained on, sent by someone else (a container stop), if any."""
        try:
            marker = json.loads(self.drain_marker.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return marker.get("signal") if marker.get("pid") == record.pid else None

    def _stopped_at(self, record: _Record) -> str | None:
        """When this stopped-on-purpose process stopped (ISO 8601): see the module's "Since when"."""
        try:
            marker = json.loads(self.drain_marker.read_text())
        except (FileNotFoundError, ValueError):
            marker = {}
        if marker.get("pid") == record.pid and marker.get("at"):
            return str(marker["at"])
        if record.stopped_at or record.drain_requested_at:
            return record.stopped_at or record.drain_requested_at
        try:
            return datetime.fromtimestamp(self.state_file.stat().st_mtime, UTC).isoformat(timespec="seconds")
        except FileNotFoundError:
            return None

    def _alive(self, record: _Record) -> bool:
        child = self._children.get(record.pid)
        if child is not None and child.poll() is not None:
            return False
        try:
            proc = psutil.Process(record.pid)
            if abs(proc.create_time() - record.create_time) > 0.5:
                return False  # the pid now belongs to another process
            if proc.status() == psutil.STATUS_ZOMBIE:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(record.pid, os.WNOHANG)  # our exited child: reap it
                return False
            return True
        except psutil.NoSuchProcess:
            return False

    def _wait_gone(self, record: _Record, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self._alive(record):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)
        return True

    def _signal(self, record: _Record, sig: signal.Signals) -> None:
        if not self._alive(record):
            return
        with contextlib.suppress(ProcessLookupError):
            if sig is signal.SIGINT:
                os.kill(record.pid, sig)  # the pipeline process only: it stops its own workers
            else:
                os.killpg(record.pid, sig)  # forced: the whole group it started

    def _info(self, record: _Record, state: JobState, **kw: object) -> JobInfo:
        details = {"pid": record.pid, "log": str(self.log_file), "started_at": record.started_at}
        details["restarts"] = record.restarts
        return JobInfo(name=self.name, job_id=str(record.pid), state=state, details=details, **kw)  # type: ignore[arg-type]

    def _load(self) -> _Record | None:
        try:
            return _Record(**json.loads(self.state_file.read_text()))
        except FileNotFoundError:
            return None

    def _save(self, record: _Record) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(asdict(record), indent=2))
        tmp.replace(self.state_file)  # atomic: a reader never sees half a record

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / f"{self.name}.lock").open("w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
