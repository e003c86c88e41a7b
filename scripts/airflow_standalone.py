"""``make airflow``: ``airflow standalone``, and every process it started stopped on SIGTERM, SIGINT or SIGHUP.

Started by scripts/airflow_standalone.sh, which sets the environment (the bind address, the port, the
executor's parallelism) and then runs this file in its own place (``exec``: same pid).

Standalone shuts its components down cleanly only when SIGINT reaches it alone; a SIGINT or SIGTERM sent to
every process of its group leaves the scheduler hanging. A process started from a script may also have SIGINT
ignored (bash starts the background jobs of a script that way), which standalone and its children would
inherit, and then nothing stops them. So:

* standalone runs in a process group of its own: a terminal's Ctrl-C reaches this launcher only. This
  process handles SIGINT, SIGTERM and SIGHUP (even when SIGINT was ignored at its start), so standalone,
  started with ``exec``, gets them at their defaults;
* the first signal sends one SIGINT to standalone and waits up to ``BIKESHARE_AIRFLOW_STOP_GRACE`` seconds
  (30) for it to stop its components; a second signal stops waiting;
* then every process it started that is still there gets SIGTERM, and SIGKILL after 10 s. On Linux this
  process is a child subreaper, so processes orphaned on the way (LocalExecutor workers, task processes in
  groups or sessions of their own) are still its descendants and are found; elsewhere the descendants seen
  when the signal came are.

The exit status is 0 after a requested stop, standalone's own when it stopped by itself (128 + the signal's
number when a signal killed it).
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from contextlib import suppress

import psutil

GRACE_ENV = "BIKESHARE_AIRFLOW_STOP_GRACE"
DEFAULT_GRACE = 30.0
TERM_WAIT = 10.0  # after SIGTERM, before SIGKILL
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def say(message: str) -> None:
    print(f"{'launcher':10} | {message}", file=sys.stderr, flush=True)


class Received:
    """The stop signals received so far (the handler only records them)."""

    def __init__(self) -> None:
        self.signals: list[int] = []

    def __call__(self, signum: int, _frame: object) -> None:
        self.signals.append(signum)


def become_subreaper() -> bool:
    """Adopt the orphans of every descendant (Linux only), so that none of them escapes the final stop."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def reap_adopted(keep: int) -> None:
    """Collect the exit status of adopted orphans that have exited (all children but standalone)."""
    for child in psutil.Process().children():
        if child.pid == keep:
            continue
        with suppress(psutil.Error, ChildProcessError):
            if child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, os.WNOHANG)


def descendants() -> list[psutil.Process]:
    with suppress(psutil.Error):
        return psutil.Process().children(recursive=True)
    return []


def name(proc: psutil.Process) -> str:
    with suppress(psutil.Error):
        return proc.name()
    return str(proc.pid)


def to_stop(proc: psutil.Process) -> bool:
    """Still running, or exited and waiting for this process to collect it (a zombie of someone else's
    goes once its parent does)."""
    with suppress(psutil.Error):
        return proc.is_running() and (proc.status() != psutil.STATUS_ZOMBIE or proc.ppid() == os.getpid())
    return False


def stop_all(seen: list[psutil.Process]) -> tuple[int, list[str]]:
    """SIGTERM every descendant still running (and each of ``seen``), SIGKILL those left after TERM_WAIT.

    Repeated while processes remain (one may fork while being stopped); returns how many were stopped, and
    the names of those that needed SIGKILL."""
    stopped: set[int] = set()
    killed: list[str] = []
    for _ in range(3):
        procs = {p.pid: p for p in [*seen, *descendants()] if p.pid not in stopped and to_stop(p)}
        seen = []
        if not procs:
            break
        for proc in procs.values():
            with suppress(psutil.Error):
                proc.terminate()
        _, alive = psutil.wait_procs(list(procs.values()), timeout=TERM_WAIT)
        for proc in alive:
            with suppress(psutil.Error):
                killed.append(name(proc))
                proc.kill()
        psutil.wait_procs(alive, timeout=5)
        stopped.update(procs)
    return len(stopped), killed


def main() -> int:
    grace = float(os.environ.get(GRACE_ENV, DEFAULT_GRACE))
    received = Received()
    for signum in STOP_SIGNALS:
        signal.signal(signum, received)
    subreaper = become_subreaper()
    standalone = subprocess.Popen(["airflow", "standalone"], process_group=0, stdin=subprocess.DEVNULL)
    seen: list[psutil.Process] = []
    try:
        ticks = 0
        while standalone.poll() is None and not received.signals:
            time.sleep(0.5)
            ticks += 1
            if subreaper and ticks % 10 == 0:  # every 5 s: a scan of /proc
                reap_adopted(standalone.pid)
        if received.signals:
            signame = signal.Signals(received.signals[0]).name
            say(f"{signame}: stopping airflow standalone (up to {grace:.0f} s; signal again to stop at once)")
            seen = descendants()
            with suppress(ProcessLookupError):
                standalone.send_signal(signal.SIGINT)
            deadline = time.monotonic() + grace
            while standalone.poll() is None and len(received.signals) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
            if standalone.poll() is None:
                say("airflow standalone still running: SIGTERM to every process it started")
        else:
            say(f"airflow standalone exited with status {standalone.returncode}")
    finally:
        left, killed = stop_all(seen)
        if left:
            say(
                f"{left} left-over processes stopped; with SIGKILL, {TERM_WAIT:.0f} s after SIGTERM: {killed or 'none'}"
            )
        with suppress(subprocess.TimeoutExpired):
            standalone.wait(timeout=1)
    say("stopped")
    if received.signals:
        return 0
    status = standalone.returncode or 0
    return 128 - status if status < 0 else status  # killed by a signal: 128 + its number, as in a shell


if __name__ == "__main__":
    sys.exit(main())
