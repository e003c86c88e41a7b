"""Let the DirectRunner pull more than 10 Pub/Sub messages per bundle.

Beam 2.77's DirectRunner reads Pub/Sub with ``pull(max_messages=10)`` hard-coded
(``_PubSubReadEvaluator._read_from_pubsub``), and every pull becomes one bundle that crosses every
stage and one streaming insert: measured ~70 events/s. Wrapping the subscriber client it uses lifts
that limit without copying Beam's code. Only the DirectRunner uses this evaluator, so the wrap is
inert on Dataflow (and it runs only in the launching process).

The Pub/Sub emulator returns at most 100 messages per pull, and the runner pays a fixed cost per
bundle and stage (it re-inspects every DoFn's signature, copies keyed state): so after Beam's own
pull (which waits for the first message) the wrap keeps pulling what is already there, with
``return_immediately`` so that an empty backlog answers at once instead of after the 30 s long
poll, up to ``max_messages`` per bundle. Beam acks the whole combined response, as it did one pull.
"""

from __future__ import annotations

from typing import Any

from apache_beam.runners.direct import transform_evaluator
from google.pubsub_v1.types import PullResponse

_Evaluator = transform_evaluator._PubSubReadEvaluator
_ORIGINAL = _Evaluator.__dict__["_get_subscriber_client"]


class _LargerPulls:
    """The DirectRunner's subscriber client: each pull drains the backlog up to ``max_messages``."""

    def __init__(self, client: Any, max_messages: int) -> None:
        self._client = client
        self._max_messages = max_messages

    def pull(self, **kwargs: Any) -> Any:
        kwargs["max_messages"] = max(kwargs.get("max_messages", 0), self._max_messages)
        response = self._client.pull(**kwargs)
        received = list(response.received_messages)
        last = len(received)
        while last and len(received) < kwargs["max_messages"]:
            more = self._client.pull(
                subscription=kwargs["subscription"],
                max_messages=kwargs["max_messages"] - len(received),
                return_immediately=True,
                timeout=kwargs.get("timeout"),
            )
            last = len(more.received_messages)
            received.extend(more.received_messages)
        if len(received) == len(response.received_messages):
            return response
        return PullResponse(received_messages=received)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def set_pull_max_messages(max_messages: int) -> None:
    """Make every DirectRunner Pub/Sub pull in this process ask for up to ``max_messages``."""
    original = _ORIGINAL.__func__

    def _get_subscriber_client(cls: type, transform: Any) -> Any:
        return _LargerPulls(original(cls, transform), max_messages)

    _Evaluator._get_subscriber_client = classmethod(_get_subscriber_client)


def reset() -> None:
    """Back to Beam's own behaviour (tests)."""
    _Evaluator._get_subscriber_client = _ORIGINAL
