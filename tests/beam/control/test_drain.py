"""The local drain loses nothing: every published event is either written or still in the subscription."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from include.beam.control.job import JobState
from include.beam.control.stream_local import LocalStreamingJob
from include.gcp import clients
from include.gcp.settings import Settings
from include.gcp.tables import RAW_EVENTS
from include.simulator.publish import replay_attributes
from tests.beam.control.conftest import ingest_of

pytestmark = pytest.mark.integration

N = 3000
REPLAY_CLOCK = replay_attributes(datetime(2019, 9, 1, 4, 5, tzinfo=UTC))  # the events are of 2019-09-01 04:00


def _written(settings: Settings) -> set[str]:
    sql = f"SELECT DISTINCT event_id FROM `{settings.table_id(RAW_EVENTS)}`"
    return {row.event_id for row in clients.bigquery_client(settings).query(sql).result()}


def _left_in_subscription(settings: Settings) -> set[str]:
    left: set[str] = set()
    with clients.subscriber_client(settings) as sub:
        while True:
            resp = sub.pull(request={"subscription": settings.subscription_path, "max_messages": 1000}, timeout=5)
            if not resp.received_messages:
                return left
            left |= {json.loads(m.message.data)["event_id"] for m in resp.received_messages}
            sub.acknowledge(
                request={
                    "subscription": settings.subscription_path,
                    "ack_ids": [m.ack_id for m in resp.received_messages],
                }
            )


def _event(event_id: str, station: str) -> bytes:
    record = {"system_id": "citibike-jc", "event_id": event_id, "station_id": station}
    return json.dumps({**record, "ts_iso": "2019-09-01T04:00:00.000Z", "kind": "dropoff", "delta": 1}).encode()


def _sigterm_from_outside(job: LocalStreamingJob) -> JobState:
    """What a container stop does: SIGTERM to the pipeline's process, not through the job control."""
    pid = int(job.start().job_id)  # already running: start() only reports it
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 90
    while job.state() is JobState.RUNNING:
        assert time.monotonic() < deadline, "the pipeline did not stop on SIGTERM"
        time.sleep(0.5)
    return job.state()


@pytest.mark.parametrize(
    ("stop", "logged"),
    [
        (lambda job: job.drain(timeout=60), "drain: SIGINT received"),  # stream_ctl drain
        (_sigterm_from_outside, "drain: SIGTERM received"),
    ],
    ids=["stream_ctl-drain", "sigterm"],
)
def test_drain_mid_stream_keeps_every_event(
    stream_settings: Settings, stop: Callable[[LocalStreamingJob], JobState], logged: str
) -> None:
    s = stream_settings
    job = LocalStreamingJob(s, ingest_of(s))  # the real pipeline, through include.beam.pipeline.stream_drain
    job.start()
    publisher = clients.publisher_client(s)
    publisher.publish(s.topic_path, _event("warm-up", "1"), **REPLAY_CLOCK).result()
    deadline = time.monotonic() + 60
    while "warm-up" not in _written(s):  # the pipeline is pulling
        assert time.monotonic() < deadline
        time.sleep(0.5)

    futures = [publisher.publish(s.topic_path, _event(f"d{i}", str(i % 50)), **REPLAY_CLOCK) for i in range(N)]
    for f in futures:
        f.result()
    assert stop(job) is JobState.DRAINED
    assert logged in job.log_tail()
    assert "drain: pipeline stopped (drained)" in job.log_tail()

    written = _written(s) - {"warm-up"}
    left = _left_in_subscription(s)
    assert written | left == {f"d{i}" for i in range(N)}  # nothing lost
    print(f"drain: {len(written)} written, {len(left)} left for the next job")
