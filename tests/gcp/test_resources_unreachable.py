"""Issue 23 §3: a create call to a service that does not answer ends within its limit, naming the service.

With the clients' defaults, ``ensure_topic`` and ``ensure_dataset`` against a stopped emulator retried for
10 minutes (measured: still silent at 400 s), past ``bikeshare_stream.ensure_resources``' 5-min
``execution_timeout``; with the project's limit (120 s, shortened here) they raise ``ServiceUnreachable``.
No emulator needed: the fault is a closed local port.
"""

from __future__ import annotations

import dataclasses
import socket
import time

import pytest

from include.gcp import resources
from include.gcp.settings import Endpoint, Settings


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(
    ("service", "ensure", "label"),
    [
        ("pubsub", resources.ensure_topic, "Pub/Sub"),
        ("pubsub", resources.ensure_subscription, "Pub/Sub"),
        ("bigquery", resources.ensure_dataset, "BigQuery"),
        ("storage", resources.ensure_bucket, "Cloud Storage"),
    ],
)
def test_a_create_call_to_a_service_down_fails_in_time_naming_it(
    monkeypatch: pytest.MonkeyPatch, service: str, ensure, label: str
) -> None:
    monkeypatch.setattr(resources, "TOTAL_SECONDS", 3.0)
    monkeypatch.setattr(resources, "ATTEMPT_SECONDS", 2.0)
    port = closed_port()
    s = dataclasses.replace(Settings(), **{service: Endpoint("127.0.0.1", port)})
    started = time.monotonic()
    with pytest.raises(resources.ServiceUnreachable) as raised:
        ensure(s)
    seconds = time.monotonic() - started
    assert seconds < 15, seconds
    message = str(raised.value)
    assert message.startswith(f"{label} at ")
    assert f"127.0.0.1:{port}" in message
    assert "did not answer within 3 s" in message
