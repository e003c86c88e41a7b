"""Pull everything a test published from its subscription (real subscriber client, emulator)."""

from __future__ import annotations

import time

from include.gcp import clients
from include.gcp.settings import Settings


def pull_all(settings: Settings, expected: int, timeout: float = 60.0, quiet_pulls: int = 2) -> list[bytes]:
    """Payloads on the subscription, acked; stops after ``expected`` plus ``quiet_pulls`` empty pulls."""
    payloads: list[bytes] = []
    empty = 0
    deadline = time.monotonic() + timeout
    with clients.subscriber_client(settings) as subscriber:
        while time.monotonic() < deadline and (len(payloads) < expected or empty < quiet_pulls):
            wait = 5 if len(payloads) < expected else 1  # once all arrived, only check that nothing more comes
            response = subscriber.pull(subscription=settings.subscription_path, max_messages=1000, timeout=wait)
            if not response.received_messages:
                empty += 1
                continue
            empty = 0
            payloads.extend(m.message.data for m in response.received_messages)
            subscriber.acknowledge(
                subscription=settings.subscription_path, ack_ids=[m.ack_id for m in response.received_messages]
            )
    return payloads
