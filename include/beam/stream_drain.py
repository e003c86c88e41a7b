"""Run the ingest pipeline with a drain for the DirectRunner: on SIGINT, stop pulling, finish, exit.

``python -m include.beam.stream_drain <argv>`` runs ``include.beam.pipeline`` as ``__main__`` with
the same argv, after installing a SIGINT handler. Without it, SIGINT raises KeyboardInterrupt at
once, and since Beam 2.77's DirectRunner acknowledges Pub/Sub messages as soon as it pulls them
(``_PubSubReadEvaluator._read_from_pubsub``), the bundle in flight would be lost. With it:

1. the first SIGINT makes every further Pub/Sub read return nothing *without pulling*, so nothing
   more is acknowledged (unread messages stay in the subscription for the next job);
2. after ``SETTLE_S`` (bundles in flight take about a second to reach BigQuery here) the main
   thread gets the KeyboardInterrupt that ends ``wait_until_finish``;
3. a second SIGINT stops at once.

This is what :class:`~include.beam.stream_local.LocalStreamingJob` starts. Dataflow has a drain of
its own; this module is only for the DirectRunner (it touches nothing in other runners).
"""

from __future__ import annotations

import _thread
import runpy
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

PIPELINE_MODULE = "include.beam.pipeline"
SETTLE_S = 5.0
IDLE_POLL_S = 0.5  # how often a drained reader wakes (instead of a pull)

_draining = threading.Event()


def install(settle_seconds: float = SETTLE_S) -> None:
    """Make SIGINT a drain in this process (see the module docstring)."""
    from apache_beam.runners.direct import transform_evaluator

    evaluator = transform_evaluator._PubSubReadEvaluator
    original = evaluator._read_from_pubsub

    def _read_from_pubsub(self: Any, timestamp_attribute: Any) -> list:
        if _draining.is_set():
            time.sleep(IDLE_POLL_S)
            return []
        return original(self, timestamp_attribute)

    evaluator._read_from_pubsub = _read_from_pubsub

    def _on_sigint(signum: int, frame: FrameType | None) -> None:
        if _draining.is_set():
            raise KeyboardInterrupt  # second SIGINT: stop now
        _draining.set()
        print(f"drain: stopped pulling; exiting in {settle_seconds:.0f}s", flush=True)
        threading.Timer(settle_seconds, _thread.interrupt_main).start()

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
