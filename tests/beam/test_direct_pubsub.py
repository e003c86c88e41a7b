"""The DirectRunner's Pub/Sub pulls: Beam's one long-poll pull, then the backlog at once, as one response."""

from __future__ import annotations

from typing import Any

from google.pubsub_v1.types import PubsubMessage, PullResponse, ReceivedMessage

from include.beam import direct_pubsub
from include.beam.direct_pubsub import _LargerPulls


class FakeSubscriber:
    """Hands out a backlog ``page`` messages per pull, as the emulator does (100), and records the calls."""

    def __init__(self, backlog: int, page: int = 100) -> None:
        self.backlog = [ReceivedMessage(ack_id=str(i), message=PubsubMessage(data=b"m%d" % i)) for i in range(backlog)]
        self.page = page
        self.calls: list[dict[str, Any]] = []

    def pull(self, **kwargs: Any) -> PullResponse:
        self.calls.append(kwargs)
        n = min(self.page, kwargs["max_messages"])
        taken, self.backlog = self.backlog[:n], self.backlog[n:]
        return PullResponse(received_messages=taken)

    def acknowledge(self, **kwargs: Any) -> str:
        return "acked"


def test_a_pull_drains_the_backlog_up_to_the_limit_in_one_response() -> None:
    client = FakeSubscriber(backlog=250)
    response = _LargerPulls(client, max_messages=1000).pull(subscription="s", max_messages=10, timeout=30)
    assert [m.ack_id for m in response.received_messages] == [str(i) for i in range(250)]
    assert [c["max_messages"] for c in client.calls] == [1000, 900, 800, 750]
    assert "return_immediately" not in client.calls[0]  # Beam's own pull may wait for the first message
    assert all(c["return_immediately"] and c["timeout"] == 30 for c in client.calls[1:])  # the rest never wait


def test_the_limit_caps_a_bundle_and_an_empty_pull_is_passed_through() -> None:
    client = FakeSubscriber(backlog=350)
    pulls = _LargerPulls(client, max_messages=200)
    assert len(pulls.pull(subscription="s", max_messages=10).received_messages) == 200
    assert len(pulls.pull(subscription="s", max_messages=10).received_messages) == 150
    empty = FakeSubscriber(0)
    assert len(_LargerPulls(empty, 200).pull(subscription="s", max_messages=10).received_messages) == 0
    assert len(empty.calls) == 1
    assert pulls.acknowledge(subscription="s", ack_ids=["1"]) == "acked"  # everything else is the client's


def test_the_wrap_replaces_the_direct_runners_client_and_can_be_undone() -> None:
    evaluator = direct_pubsub._Evaluator
    try:
        direct_pubsub.set_pull_max_messages(500)
        assert evaluator.__dict__["_get_subscriber_client"] is not direct_pubsub._ORIGINAL
    finally:
        direct_pubsub.reset()
    assert evaluator.__dict__["_get_subscriber_client"] is direct_pubsub._ORIGINAL
