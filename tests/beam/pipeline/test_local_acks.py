"""The local job's acknowledgement ledger: a message is acked once what it became is in BigQuery."""

from __future__ import annotations

from typing import Any

from google.pubsub_v1.types import PubsubMessage, ReceivedMessage

from include.beam.pipeline.local_acks import AckLedger
from include.gcp.events import event_key

RAW, DEAD = "p.d.raw_events", "p.d.raw_events_dead_letter"


class FakeSubscriber:
    def __init__(self) -> None:
        self.acked: list[str] = []
        self.extended: list[tuple[str, int]] = []

    def acknowledge(self, subscription: str, ack_ids: list[str]) -> None:
        self.acked += ack_ids

    def modify_ack_deadline(self, subscription: str, ack_ids: list[str], ack_deadline_seconds: int) -> None:
        self.extended += [(a, ack_deadline_seconds) for a in ack_ids]


def pulled(*message_ids: str, delivery: int = 1) -> list[ReceivedMessage]:
    return [
        ReceivedMessage(ack_id=f"{m}#{delivery}", message=PubsubMessage(data=b"x", message_id=m)) for m in message_ids
    ]


def ledger(max_outstanding: int = 100) -> tuple[AckLedger, FakeSubscriber]:
    client = FakeSubscriber()
    acks = AckLedger(RAW, DEAD, max_outstanding=max_outstanding)
    acks.attach(client, "projects/p/subscriptions/s")
    return acks, client


def row(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "station_id": "1"}


def test_a_row_acks_its_messages_only_once_it_is_written() -> None:
    acks, client = ledger()
    acks.received(pulled("m1", "m2", "m3"))
    acks.expect_row(event_key(None, "e1"), "m1")
    acks.expect_row(event_key(None, "e2"), "m2")
    assert client.acked == []  # nothing before the insert
    acks.inserted(RAW, [row("e1")])
    assert client.acked == ["m1#1"]
    assert acks.outstanding() == 2
    acks.inserted("p.d.other_table", [row("e2")])  # another table's rows mean nothing
    assert client.acked == ["m1#1"]


def test_dead_letters_ack_by_message_id_and_a_refused_row_releases_its_event() -> None:
    acks, client = ledger()
    acks.received(pulled("bad", "good"))
    acks.expect_row(event_key(None, "e1"), "good")
    acks.inserted(DEAD, [{"reason": "bad_json", "message_id": "bad", "event_id": None}])
    assert client.acked == ["bad#1"]
    acks.inserted(DEAD, [{"reason": "write_failed", "message_id": None, "event_id": "e1"}])
    assert client.acked == ["bad#1", "good#1"]
    assert acks.outstanding() == 0


def test_a_duplicate_is_acked_at_once_unless_it_is_the_message_whose_row_is_pending() -> None:
    acks, client = ledger()
    acks.received(pulled("first", "copy"))
    acks.expect_row(event_key(None, "e1"), "first")
    acks.duplicate("copy")  # another message with the same event: the first one's message still waits
    assert client.acked == ["copy#1"]
    acks.received(pulled("first", delivery=2))  # the same message again (a lease lapsed)
    acks.duplicate("first")
    assert client.acked == ["copy#1"]  # not acked: its row is not written yet
    acks.inserted(RAW, [row("e1")])
    assert client.acked == ["copy#1", "first#2"]  # with the newest ack id


def test_flow_control_and_leases() -> None:
    acks, client = ledger(max_outstanding=2)
    acks.received(pulled("a"))
    assert not acks.is_full()
    acks.received(pulled("b"))
    assert acks.is_full()
    assert acks.extend_leases() == 2
    assert sorted(client.extended) == [("a#1", 60), ("b#1", 60)]
    acks.duplicate("a")
    assert not acks.is_full()


def test_an_ack_that_fails_leaves_the_message_to_redelivery() -> None:
    acks, client = ledger()

    def refuse(**kwargs: Any) -> None:
        raise ConnectionError("pubsub away")

    client.acknowledge = refuse  # type: ignore[method-assign]
    acks.received(pulled("m1"))
    acks.duplicate("m1")  # logged, not raised
    assert acks.outstanding() == 0
