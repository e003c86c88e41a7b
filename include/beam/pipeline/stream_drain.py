"""Run the ingest pipeline with a drain for the DirectRunner: on SIGINT or SIGTERM, stop pulling, finish, exit.

``python -m include.beam.pipeline.stream_drain [--drain_marker PATH] <argv>`` runs the pipeline
module (:data:`~include.beam.pipeline.PIPELINE_MODULE`) as ``__main__`` with the same argv, after
installing the drain as the handler of SIGINT (what ``stream_ctl drain`` sends) and SIGTERM (what a
container stop, systemd or ``kill`` send). Without it, SIGINT raises KeyboardInterrupt at once and
ends the bundles in flight half-way, and SIGTERM kills the process with no word. With it:

1. the first signal is logged and makes every further Pub/Sub read return nothing *without pulling*
   (unread messages stay in the subscription for the next job);
2. once every message already pulled is acknowledged, i.e. written to raw_events or the dead
   letters (:mod:`include.beam.pipeline.local_acks`), or after ``SETTLE_MAX_S``, the main thread gets the
   KeyboardInterrupt that ends ``wait_until_finish``; what is still unacknowledged then is
   delivered again to the next job, so even a drain that gives up loses nothing;
3. a second signal stops at once.

A drain that settled writes ``--drain_marker`` (JSON: pid, signal, time), by which the job control
tells a job that drained on a signal it did not send from one that died
(:class:`~include.beam.control.stream_local.LocalStreamingJob`). Dataflow has a drain of its own; this
module is only for the DirectRunner (it touches nothing in other runners). The read that stops
pulling is one of the DirectRunner patches in :mod:`include.beam.pipeline.direct_pubsub`.
"""

from __future__ import annotations

import _thread
import json
import os
import runpy
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from include.beam.pipeline import PIPELINE_MODULE

SETTLE_MIN_S = 1.0  # bundles past the read hold no pulled message yet may still be writing
SETTLE_MAX_S = 120.0
MARKER_FLAG = "--drain_marker"

_draining = threading.Event()
_settled = threading.Event()  # every pulled message was acknowledged before the stop
_settle_over = threading.Event()  # settle() is stopping the main thread (interrupt_main calls the handler)
_signal_name: list[str] = []  # the signal that started the drain


def settle(min_seconds: float = SETTLE_MIN_S, max_seconds: float = SETTLE_MAX_S) -> None:
    """Wait until the ledger holds no unacknowledged message (or ``max_seconds``), then stop the main thread."""
    from include.beam.pipeline import local_acks

    started = time.monotonic()
    time.sleep(min_seconds)
    while (ledger := local_acks.active()) is not None and ledger.outstanding():
        if time.monotonic() - started > max_seconds:
            print(f"drain: {ledger.outstanding()} messages still unacknowledged; they will be redelivered", flush=True)
            break
        time.sleep(0.2)
    else:
        _settled.set()
    _settle_over.set()
    _thread.interrupt_main()  # runs the SIGINT handler in the main thread


def install(max_seconds: float = SETTLE_MAX_S) -> None:
    """Make SIGINT and SIGTERM a drain in this process (see the module docstring)."""
    from include.beam.pipeline import direct_pubsub  # imports Beam

    direct_pubsub.stop_reading_when(_draining)

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if _settle_over.is_set():
            raise KeyboardInterrupt  # settle()'s own stop
        if _draining.is_set():
            print(f"drain: {name} during the drain: stopping now", flush=True)
            raise KeyboardInterrupt  # second signal: stop now
        _draining.set()
        _signal_name.append(name)
        print(f"drain: {name} received: stopped pulling; exiting once what was pulled is written", flush=True)
        threading.Thread(target=settle, kwargs={"max_seconds": max_seconds}, daemon=True).start()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


def split_marker(argv: list[str]) -> tuple[Path | None, list[str]]:
    """``--drain_marker PATH`` (or ``=PATH``) out of the argv; the rest is the pipeline's."""
    marker, rest, args = None, [], iter(argv)
    for arg in args:
        if arg == MARKER_FLAG:
            marker = Path(next(args))
        elif arg.startswith(f"{MARKER_FLAG}="):
            marker = Path(arg.split("=", 1)[1])
        else:
            rest.append(arg)
    return marker, rest


def write_marker(path: Path) -> None:
    """Record a settled drain for the job control: which process, on which signal, when."""
    record = {"pid": os.getpid(), "signal": _signal_name[0], "at": datetime.now(UTC).isoformat(timespec="seconds")}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    tmp.replace(path)


def main(argv: list[str]) -> None:
    marker, pipeline_argv = split_marker(argv)
    install()
    sys.argv = [PIPELINE_MODULE, *pipeline_argv]
    try:
        runpy.run_module(PIPELINE_MODULE, run_name="__main__", alter_sys=True)
    except KeyboardInterrupt:
        drained = _draining.is_set() and _settled.is_set()
        if drained and marker is not None:
            write_marker(marker)
        print(f"drain: pipeline stopped ({'drained' if drained else 'not drained'})", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
