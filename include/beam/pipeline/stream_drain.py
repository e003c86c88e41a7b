"""Run the ingest pipeline with a drain for the DirectRunner: on SIGINT, stop pulling, finish, exit.

``python -m include.beam.pipeline.stream_drain <argv>`` runs the pipeline module
(:data:`~include.beam.pipeline.PIPELINE_MODULE`) as ``__main__`` with the same argv, after installing
a SIGINT handler. Without it, SIGINT raises KeyboardInterrupt at once and ends the bundles in flight
half-way. With it:

1. the first SIGINT makes every further Pub/Sub read return nothing *without pulling* (unread
   messages stay in the subscription for the next job);
2. once every message already pulled is acknowledged, i.e. written to raw_events or the dead
   letters (:mod:`include.beam.pipeline.local_acks`), or after ``SETTLE_MAX_S``, the main thread gets the
   KeyboardInterrupt that ends ``wait_until_finish``; what is still unacknowledged then is
   delivered again to the next job, so even a drain that gives up loses nothing;
3. a second SIGINT stops at once.

This is what :class:`~include.beam.control.stream_local.LocalStreamingJob` starts. Dataflow has a drain of
its own; this module is only for the DirectRunner (it touches nothing in other runners). The read
that stops pulling is one of the DirectRunner patches in :mod:`include.beam.pipeline.direct_pubsub`.
"""

from __future__ import annotations

import _thread
import runpy
import signal
import sys
import threading
import time
from types import FrameType

from include.beam.pipeline import PIPELINE_MODULE

SETTLE_MIN_S = 1.0  # bundles past the read hold no pulled message yet may still be writing
SETTLE_MAX_S = 120.0

_draining = threading.Event()


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
    _thread.interrupt_main()


def install(max_seconds: float = SETTLE_MAX_S) -> None:
    """Make SIGINT a drain in this process (see the module docstring)."""
    from include.beam.pipeline import direct_pubsub  # imports Beam

    direct_pubsub.stop_reading_when(_draining)

    def _on_sigint(signum: int, frame: FrameType | None) -> None:
        if _draining.is_set():
            raise KeyboardInterrupt  # second SIGINT: stop now
        _draining.set()
        print("drain: stopped pulling; exiting once what was pulled is written", flush=True)
        threading.Thread(target=settle, kwargs={"max_seconds": max_seconds}, daemon=True).start()

    signal.signal(signal.SIGINT, _on_sigint)


def main(argv: list[str]) -> None:
    install()
    sys.argv = [PIPELINE_MODULE, *argv]
    try:
        runpy.run_module(PIPELINE_MODULE, run_name="__main__", alter_sys=True)
    except KeyboardInterrupt:
        print("drain: pipeline stopped", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
