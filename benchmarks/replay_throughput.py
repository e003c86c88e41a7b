"""Simulator publish throughput against the local Pub/Sub emulator (prints figures).

Publishes 48 h of synthetic trips (50 stations) to a throw-away topic, once clean and once with 5 %
malformed messages injected, and prints the summaries. Needs the local stack (make stack-up).
Usage: .venv/bin/python -m benchmarks.replay_throughput
"""

from __future__ import annotations

import logging
import sys
import uuid
from datetime import UTC, datetime

from include.gcp import clients, resources
from include.gcp.settings import get_settings
from include.simulator.replay import ReplayRequest, run_replay
from include.simulator.synthetic import SyntheticSpec

FIELDS = ("sent", "published", "failed", "malformed", "duplicates", "wall_seconds", "events_per_second")


def main() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(message)s")
    tag = uuid.uuid4().hex[:8]
    settings = get_settings().with_names(topic=f"bench-{tag}", subscription=f"bench-{tag}-sub")
    resources.ensure_pubsub(settings)
    try:
        spec = SyntheticSpec(datetime(2026, 1, 5, tzinfo=UTC), hours=48, stations=50, rate=10.0, seed=1)
        for share in (0.0, 0.05):
            summary = run_replay(ReplayRequest(synthetic=spec, malformed_share=share), settings, progress_every=2)
            row = {k: v for k, v in summary.to_dict().items() if k in FIELDS}
            print(f"malformed_share={share:.2f} " + " ".join(f"{k}={v}" for k, v in row.items()))
    finally:
        with clients.subscriber_client(settings) as sub:
            sub.delete_subscription(subscription=settings.subscription_path)
        clients.publisher_client(settings).delete_topic(topic=settings.topic_path)


if __name__ == "__main__":
    main()
