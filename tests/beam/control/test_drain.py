"""The local drain loses nothing: every published event is either written or still in the subscription."""

from __future__ import annotations

import json
import time
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


def test_drain_mid_stream_keeps_every_event(stream_settings: Settings) -> None:
    s = stream_settings
    job = LocalStreamingJob(s, ingest_of(s))  # the real pipeline, through include.beam.pipeline.stream_drain
    job.start()
    publisher = clients.publisher_client(s)
    publisher.publish(
        s.topic_path,
        json.dumps(
            {
                "event_id": "warm-up",
                "station_id": "1",
                "ts_iso": "2019-09-01T04:00:00.000Z",
                "kind": "pickup",
                "delta": 1,
            }
        ).encode(),
        **REPLAY_CLOCK,
    ).result()
    deadline = time.monotonic() + 60
    while "warm-up" not in _written(s):  # the pipeline is pulling
        assert time.monotonic() < deadline
        time.sleep(0.5)

    futures = [
        publisher.publish(
            s.topic_path,
            json.dumps(
                {
                    "event_id": f"d{i}",
                    "station_id": str(i % 50),
                    "ts_iso": "2019-09-01T04:00:00.000Z",
                    "kind": "dropoff",
                    "delta": 1,
                }
            ).encode(),
            **REPLAY_CLOCK,
        )
        for i in range(N)
    ]
    for f in futures:
        f.result()
    assert job.drain(timeout=60) is JobState.DRAINED
    assert "drain: stopped pulling" in job.log_tail()

    written = _written(s) - {"warm-up"}
    left = _left_in_subscription(s)
    assert written | left == {f"d{i}" for i in range(N)}  # nothing lost
    print(f"drain: {len(written)} written, {len(left)} left for the next job")
