"""Replays published for real to the Pub/Sub emulator and pulled back: every message accounted for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from include.gcp import events
from include.gcp.settings import Settings
from include.simulator.publish import PublishError
from include.simulator.replay import ReplayRequest, run_replay, select_events
from include.simulator.synthetic import SyntheticSpec
from tests.conftest import ROOT
from tests.simulator.pubsub_helpers import pull_all

pytestmark = pytest.mark.integration

WINDOW = {"start": datetime(2019, 9, 1, 12, tzinfo=UTC), "end": datetime(2019, 9, 1, 16, tzinfo=UTC)}


def classify(payload: bytes) -> str:
    """The reason code the contract refuses the payload with (= its injected type), or "event"."""
    result = events.classify(payload)
    return result.code if isinstance(result, events.Rejection) else "event"


def test_a_real_slice_with_injected_messages_arrives_complete(test_settings: Settings) -> None:
    request = ReplayRequest(months=["2019-09"], **WINDOW, malformed_share=0.1, seed=3)
    expected = select_events(request)
    assert len(expected) == 499

    summary = run_replay(request, test_settings)

    assert summary.failed == 0
    assert summary.valid == 499
    assert summary.published == summary.sent == 499 + sum(summary.malformed.values()) + summary.duplicates
    assert summary.duplicates > 0
    assert sum(summary.malformed.values()) > 0
    assert summary.first_event_time == expected[0].ts.isoformat()
    assert summary.last_event_time == expected[-1].ts.isoformat()
    assert summary.trips == 49244
    assert summary.rejected == {}

    payloads = pull_all(test_settings, summary.published)
    assert len(payloads) == summary.published
    kinds = Counter(classify(p) for p in payloads)
    assert {k: n for k, n in kinds.items() if k != "event"} == summary.malformed
    ids = Counter(json.loads(p)["event_id"] for p in payloads if classify(p) == "event")
    assert set(ids) == {e.event_id for e in expected}
    assert sum(ids.values()) == 499 + summary.duplicates
    received = {json.loads(p)["event_id"]: json.loads(p) for p in payloads if classify(p) == "event"}
    assert all(received[e.event_id] == e.to_dict() for e in expected)


def test_a_paced_replay_keeps_the_schedule_and_delivers_everything(test_settings: Settings, fake_clock) -> None:
    spec = SyntheticSpec(datetime(2026, 1, 5, 7, tzinfo=UTC), hours=2, stations=10, rate=3.0, seed=2)
    request = ReplayRequest(synthetic=spec, speed_up=600)
    events = select_events(request)
    start = fake_clock.now

    summary = run_replay(request, test_settings, clock=fake_clock)

    span = (events[-1].ts - events[0].ts) / timedelta(seconds=1)
    assert fake_clock.now - start == pytest.approx(span / 600, abs=0.01)
    assert summary.published == len(events) > 50
    payloads = pull_all(test_settings, summary.published)
    assert sorted(json.loads(p)["event_id"] for p in payloads) == sorted(e.event_id for e in events)


def test_publishing_to_a_missing_topic_fails_the_run_with_counts(test_settings: Settings) -> None:
    missing = test_settings.with_names(topic=f"{test_settings.topic}-missing")
    request = ReplayRequest(files=[ROOT / "tests/simulator/data/JC-202107-citibike-tripdata.csv"])
    with pytest.raises(PublishError) as caught:
        run_replay(request, missing)
    summary = caught.value.summary
    assert summary.failed == summary.sent == 8
    assert summary.published == 0
    assert "NotFound" in summary.errors[0]


def test_cli_publishes_a_month_window_and_prints_the_summary(test_settings: Settings) -> None:
    env = {
        **os.environ,
        "BIKESHARE_PUBSUB_TOPIC": test_settings.topic,
        "BIKESHARE_PUBSUB_SUBSCRIPTION": test_settings.subscription,
    }
    args = ["--month", "2019-09", "--from", "2019-09-01T12:00", "--to", "2019-09-01T13:00", "--speed-up", "36000"]
    done = subprocess.run(
        [sys.executable, "-m", "include.simulator", *args], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["published"] == summary["valid"] == 76
    assert summary["topic"] == test_settings.topic_path
    assert "sent 76, acked 76" in done.stderr  # the final progress line
    assert len(pull_all(test_settings, 76)) == 76
