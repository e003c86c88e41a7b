"""Publish a message stream to Pub/Sub with batching and flow control, and account for every message.

Each publish future reports back through a callback, so nothing is fire-and-forget: the summary
counts what the server acknowledged and what failed, and :func:`publish_messages` raises
:class:`PublishError` if anything failed. Ordering is not requested (the pipeline orders by event time).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from google.cloud import pubsub_v1
from google.cloud.pubsub_v1.types import BatchSettings, LimitExceededBehavior, PublisherOptions, PublishFlowControl

from include.gcp import clients
from include.gcp.events import SIMULATED_NOW_ATTRIBUTE, format_ts
from include.gcp.settings import Settings, get_settings
from include.simulator.malformed import DUPLICATE, VALID, Message
from include.simulator.pacing import Clock, Pacer, SystemClock

log = logging.getLogger(__name__)

BATCH = BatchSettings(max_messages=500, max_bytes=1_000_000, max_latency=0.05)
FLOW_CONTROL = PublishFlowControl(
    message_limit=5_000, byte_limit=5_000_000, limit_exceeded_behavior=LimitExceededBehavior.BLOCK
)


def replay_attributes(now: datetime) -> dict[str, str]:
    """The attributes a replayed message carries: the replay's clock (the event time it is paced by),
    which the ingest judges late and future events against when its clock is ``simulated``."""
    return {SIMULATED_NOW_ATTRIBUTE: format_ts(now)}


@dataclass
class ReplaySummary:
    """What a replay sent; ``published = valid + sum(malformed) + duplicates`` when nothing failed."""

    topic: str = ""
    published: int = 0  # acknowledged by the server
    failed: int = 0
    valid: int = 0
    malformed: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    trips: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # unusable trip-file rows by reason
    first_event_time: str | None = None
    last_event_time: str | None = None
    wall_seconds: float = 0.0
    events_per_second: float = 0.0
    errors: list[str] = field(default_factory=list)  # the first few publish errors

    @property
    def sent(self) -> int:
        return self.valid + sum(self.malformed.values()) + self.duplicates

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "sent": self.sent}


class PublishError(RuntimeError):
    """Some messages were not accepted by Pub/Sub; ``summary`` says how many and why."""

    def __init__(self, summary: ReplaySummary) -> None:
        super().__init__(f"{summary.failed} of {summary.sent} messages failed to publish: {summary.errors}")
        self.summary = summary


@dataclass(frozen=True)
class Progress:
    sent: int
    acked: int
    rate: float  # messages per wall-clock second since the start
    event_time: datetime


def log_progress(p: Progress) -> None:
    log.info("sent %d, acked %d, %.0f msg/s, event time %s", p.sent, p.acked, p.rate, p.event_time.isoformat())


class _Outcomes:
    """Counts publish results as futures complete (called on the client's threads)."""

    def __init__(self) -> None:
        self.done = threading.Condition()
        self.ok = 0
        self.failed = 0
        self.errors: list[str] = []

    def callback(self, future: pubsub_v1.publisher.futures.Future) -> None:
        error = future.exception()
        with self.done:
            if error is None:
                self.ok += 1
            else:
                self.failed += 1
                if len(self.errors) < 5:
                    self.errors.append(f"{type(error).__name__}: {error}")
            self.done.notify_all()

    def wait(self, submitted: int, timeout: float) -> None:
        with self.done:
            if not self.done.wait_for(lambda: self.ok + self.failed >= submitted, timeout=timeout):
                self.failed += submitted - self.ok - self.failed
                self.errors.append(f"timed out after {timeout:.0f} s waiting for publish results")


def publish_messages(
    messages: Iterable[Message],
    settings: Settings | None = None,
    *,
    speed_up: float | None = None,
    clock: Clock | None = None,
    summary: ReplaySummary | None = None,
    on_progress: Callable[[Progress], None] = log_progress,
    progress_every: float = 5.0,
    result_timeout: float = 300.0,
) -> ReplaySummary:
    """Send ``messages`` (in their order, paced by event time) to the settings' topic.

    Returns the filled ``summary``; raises :class:`PublishError` if any message failed.
    """
    s = settings or get_settings()
    clock = clock or SystemClock()
    summary = summary or ReplaySummary()
    summary.topic = s.topic_path
    pacer = Pacer(speed_up, clock)
    outcomes = _Outcomes()
    kinds: Counter[str] = Counter()
    publisher = clients.publisher_client(
        s, batch_settings=BATCH, publisher_options=PublisherOptions(flow_control=FLOW_CONTROL)
    )
    started = clock.monotonic()
    wall_started = time.monotonic()
    last_report = started
    first: datetime | None = None
    last: datetime | None = None
    try:
        for message in messages:
            pacer.wait_for(message.ts)
            future = publisher.publish(s.topic_path, message.data, **replay_attributes(message.ts))
            future.add_done_callback(outcomes.callback)
            kinds[message.kind] += 1
            first = first or message.ts
            last = message.ts
            now = clock.monotonic()
            if now - last_report >= progress_every:
                last_report = now
                sent = kinds.total()
                on_progress(Progress(sent, outcomes.ok, sent / max(now - started, 1e-9), message.ts))
    finally:
        publisher.stop()  # sends what is still batched
        outcomes.wait(kinds.total(), result_timeout)
    summary.valid = kinds.pop(VALID, 0)
    summary.duplicates = kinds.pop(DUPLICATE, 0)
    summary.malformed = dict(sorted(kinds.items()))
    summary.published, summary.failed, summary.errors = outcomes.ok, outcomes.failed, outcomes.errors
    summary.first_event_time = first.astimezone(UTC).isoformat() if first else None
    summary.last_event_time = last.astimezone(UTC).isoformat() if last else None
    summary.wall_seconds = round(time.monotonic() - wall_started, 3)
    summary.events_per_second = round(summary.sent / summary.wall_seconds, 1) if summary.wall_seconds else 0.0
    if last is not None:
        on_progress(Progress(summary.sent, summary.published, summary.events_per_second, last))
    if summary.failed:
        raise PublishError(summary)
    return summary
