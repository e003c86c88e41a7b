"""``make airflow`` (scripts/airflow_standalone.sh): the UI bound to 127.0.0.1 only, and every process it
started gone soon after a SIGTERM, when it was started from a script.

"From a script": bash starts a script's background jobs with SIGINT ignored, and an ignored signal is
inherited; the script here is started the same way, in a session of its own (so that everything it starts
is found, and only that is ever killed). A fresh AIRFLOW_HOME (standalone creates its database) and free
ports keep it apart from any Airflow already running. Startup takes one to three minutes on a loaded
machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from contextlib import suppress
from pathlib import Path

import psutil
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.airflow

SCRIPT = ROOT / "scripts" / "airflow_standalone.sh"
STARTUP_TIMEOUT = 420.0  # the API server answering and every component heartbeating
STOP_TIMEOUT = 60.0  # SIGTERM to the script's exit
COMPONENTS = ("scheduler", "triggerer", "dag_processor")
PARALLELISM = 4  # the script's default for the LocalExecutor


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def started_from_a_script() -> None:
    """As bash starts a non-interactive shell's background job: SIGINT and SIGQUIT ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGQUIT, signal.SIG_IGN)


def health(base: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5) as res:
            return json.load(res) if res.status == 200 else None
    except (OSError, ValueError):
        return None


def all_healthy(status: dict | None) -> bool:
    return bool(status) and all((status.get(c) or {}).get("status") == "healthy" for c in COMPONENTS)


def session_members(sid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter():
        with suppress(psutil.Error, ProcessLookupError, PermissionError):
            if os.getsid(proc.pid) == sid:
                members.append(proc)
    return members


def tree(pid: int) -> list[psutil.Process]:
    with suppress(psutil.Error):
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    return []


def listeners(procs: list[psutil.Process]) -> set[tuple[str, int]]:
    found = set()
    for proc in procs:
        with suppress(psutil.Error):
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    found.add((conn.laddr.ip, conn.laddr.port))
    return found


def alive(proc: psutil.Process) -> bool:
    with suppress(psutil.Error):
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    return False


def described(proc: psutil.Process) -> str:
    with suppress(psutil.Error):
        return f"{proc.pid} {' '.join(proc.cmdline()[:4])}"
    return f"{proc.pid} (gone)"


def ignored(pid: int) -> set[int]:
    """The signals a process ignores (/proc/<pid>/status, SigIgn: bit n-1 for signal n)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:")), 16)
    return {n for n in range(1, 65) if mask >> (n - 1) & 1}


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def test_make_airflow_binds_loopback_and_stops_everything_on_sigterm(tmp_path: Path) -> None:
    port, worker_logs, trigger_logs = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "BIKESHARE_AIRFLOW_PORT": str(port),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_logs),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_logs),
    }
    for defaulted in ("BIKESHARE_AIRFLOW_HOST", "AIRFLOW__API__BASE_URL", "AIRFLOW__CORE__PARALLELISM"):
        env.pop(defaulted, None)
    log_path = tmp_path / "standalone.log"
    base = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            ["bash", str(SCRIPT)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
            preexec_fn=started_from_a_script,
        )
    sid = proc.pid
    seen: dict[int, psutil.Process] = {}
    try:
        started = time.monotonic()
        status = None
        while not all_healthy(status := health(base)):
            assert proc.poll() is None, f"the script exited with {proc.returncode}:\n{log_tail(log_path)}"
            assert time.monotonic() - started < STARTUP_TIMEOUT, (
                f"Airflow not up after {STARTUP_TIMEOUT:.0f} s (health: {status}):\n{log_tail(log_path)}"
            )
            time.sleep(2)
        startup = time.monotonic() - started
        time.sleep(5)  # standalone's ready banner comes 3 s after the components
        running = tree(proc.pid)
        seen.update((p.pid, p) for p in running)
        seen.update((p.pid, p) for p in session_members(sid))
        names = [described(p) for p in seen.values()]
        print(f"up after {startup:.0f} s with {len(seen)} processes: {names}")

        bound = listeners(running)
        on_port = {ip for ip, p in bound if p == port}
        assert on_port == {"127.0.0.1"}, f"the API server listens on {on_port or 'nothing'}, not 127.0.0.1 only"
        # Anything else on all interfaces is one of the two log servers (Airflow binds them so, unconfigurably)
        everywhere = {(ip, p) for ip, p in bound if ip not in ("127.0.0.1", "::1")}
        assert {p for _, p in everywhere} <= {worker_logs, trigger_logs}, f"listening beyond loopback: {bound}"
        # Started with SIGINT ignored, and yet standalone has it at its default: the signal that stops it cleanly
        standalone = [p for p in running if p.cmdline()[-1:] == ["standalone"]]
        assert len(standalone) == 1, names
        assert not ignored(standalone[0].pid) & {signal.SIGINT}, "airflow standalone ignores SIGINT"
        # The LocalExecutor forks all its workers at start: the script's parallelism, not Airflow's 32
        workers = [n for n in names if "LocalExecutor" in n]
        assert len(workers) == PARALLELISM, f"{len(workers)} LocalExecutor workers: {names}"

        stop = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"still running {STOP_TIMEOUT:.0f} s after SIGTERM:\n{log_tail(log_path)}")
        stopped = time.monotonic() - stop
        seen.update((p.pid, p) for p in session_members(sid))
        left = [p for p in seen.values() if alive(p)]
        launcher = [line for line in log_tail(log_path, 200).splitlines() if line.startswith("launcher")]
        print(f"script exited {proc.returncode} {stopped:.1f} s after SIGTERM; {len(left)} processes left")
        print("\n".join(launcher))
        assert not left, f"left running: {[described(p) for p in left]}\n{log_tail(log_path)}"
        assert proc.returncode == 0, log_tail(log_path)
    finally:
        # Only what this test started: the script's session and the processes seen in its tree
        leftovers = [p for p in [*seen.values(), *session_members(sid)] if alive(p)]
        with suppress(ProcessLookupError):
            os.killpg(sid, signal.SIGKILL)
        for p in leftovers:
            with suppress(psutil.Error):
                p.kill()
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
