"""Start, probe and stop the local emulators, with PIDs, logs and data under ``.local/``.

``up`` is idempotent: a server that already answers is left alone. ``down`` stops exactly the
processes ``up`` started (by the PID files it wrote), never a server it found running.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from include.gcp.settings import Settings, get_settings
from include.localstack.servers import Server, launch, servers


@dataclass(frozen=True)
class Status:
    """A server's state as seen by ``up``/``status``/``down``."""

    name: str
    address: str
    state: str  # started | running | external | stopped | down
    pid: int | None = None

    def __str__(self) -> str:
        pid = f" pid {self.pid}" if self.pid else ""
        return f"{self.name:<9} {self.address:<21} {self.state}{pid}"


class StackError(RuntimeError):
    """A server did not come up; the message carries the tail of its log."""


def _pid_file(settings: Settings, server: Server) -> Path:
    return settings.state_dir / "pids" / f"{server.name}.pid"


def log_file(settings: Settings, server: Server) -> Path:
    return settings.state_dir / "logs" / f"{server.name}.log"


def _our_pid(settings: Settings, server: Server) -> int | None:
    """The PID from our PID file if that process is alive and is still the emulator we started."""
    path = _pid_file(settings, server)
    try:
        pid = int(json.loads(path.read_text())["pid"])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError, KeyError):
        path.unlink(missing_ok=True)
        return None
    if server.cmdline_marker not in cmdline:
        path.unlink(missing_ok=True)  # the PID was reused by something else
        return None
    return pid


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _start(settings: Settings, server: Server) -> int:
    spec = launch(server, settings)
    log = log_file(settings, server)
    log.parent.mkdir(parents=True, exist_ok=True)
    _pid_file(settings, server).parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(spec.argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            spec.argv,
            cwd=spec.cwd,
            env=spec.env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so down() stops its children too
        )
    _pid_file(settings, server).write_text(json.dumps({"pid": proc.pid, "argv": spec.argv}))
    return proc.pid


def _wait_ready(settings: Settings, server: Server, pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.ready():
            return
        if _our_pid(settings, server) is None:
            tail = _tail(log_file(settings, server))
            raise StackError(
                f"{server.name} exited during start-up; log {log_file(settings, server)}:\n{tail}"
                + what_to_do(settings, server.name, tail)
            )
        time.sleep(0.2)
    raise StackError(
        f"{server.name} did not answer on {server.endpoint.address} within {timeout:.0f} s; "
        f"log {log_file(settings, server)}:\n" + _tail(log_file(settings, server))
    )


def what_to_do(settings: Settings, name: str, log_tail: str) -> str:
    """The next step for a start-up failure the log recognises ("" for any other)."""
    if name == "bigquery" and "replaying WAL" in log_tail:
        wal = settings.state_dir / name / "bqemulator.duckdb.wal"
        # DuckDB (under the emulator) sometimes cannot replay its own log after an unclean stop; the database
        # file holds everything up to the last checkpoint. Not done here: it drops the log's writes.
        return (
            f"\nDuckDB could not replay the emulator's write-ahead log. To start from the last checkpoint "
            f"(the writes since then are lost): mv {wal} {wal}.unreplayable && make stack-up; "
            "or start empty: make clean && make stack-up."
        )
    return ""


def up(settings: Settings | None = None, timeout: float = 90.0) -> list[Status]:
    """Start every server that is not answering yet and wait until all answer."""
    s = settings or get_settings()
    if not s.is_local:
        raise StackError("the local stack is for the local profile; BIKESHARE_PROFILE is gcp")
    result: list[Status] = []
    started: list[tuple[Server, int]] = []
    for server in servers(s):
        pid = _our_pid(s, server)
        if server.ready():
            result.append(Status(server.name, server.endpoint.address, "running" if pid else "external", pid))
            continue
        if pid is None:
            pid = _start(s, server)
        started.append((server, pid))
    for server, pid in started:  # all start in parallel; wait for each in turn
        _wait_ready(s, server, pid, timeout)
        result.append(Status(server.name, server.endpoint.address, "started", pid))
    return result


def status(settings: Settings | None = None) -> list[Status]:
    s = settings or get_settings()
    out = []
    for server in servers(s):
        pid = _our_pid(s, server)
        state = ("running" if pid else "external") if server.ready() else "starting" if pid else "down"
        out.append(Status(server.name, server.endpoint.address, state, pid))
    return out


def down(settings: Settings | None = None, timeout: float = 15.0, only: list[str] | None = None) -> list[Status]:
    """Stop the servers this stack started (SIGTERM to the process group, SIGKILL after timeout).

    ``only`` limits it to the named servers (the test fixture stops just what it started).
    """
    s = settings or get_settings()
    out = []
    for server in servers(s):
        if only is not None and server.name not in only:
            continue
        pid = _our_pid(s, server)
        if pid is None:
            out.append(Status(server.name, server.endpoint.address, "external" if server.ready() else "down"))
            continue
        _kill_group(pid, timeout)
        _pid_file(s, server).unlink(missing_ok=True)
        out.append(Status(server.name, server.endpoint.address, "stopped", pid))
    return out


def _kill_group(pid: int, timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            _reap(pid)
            time.sleep(0.1)


def _reap(pid: int) -> None:
    """Collect the child's exit status when this process started it (otherwise a no-op)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
