"""The DirectRunner wraps: larger pulls, acknowledge-after-write through the ledger, inserts through an outage."""

from __future__ import annotations

import json
from typing import Any

import pytest
from apache_beam.io.gcp import bigquery_tools
from google.api_core import exceptions as api_exceptions
from google.pubsub_v1.types import PubsubMessage, PullResponse, ReceivedMessage

from include.beam.pipeline import direct_pubsub, local_acks
from include.beam.pipeline.direct_pubsub import _LargerPulls
from include.gcp.events import event_key


class FakeSubscriber:
    """Hands out a backlog ``page`` messages per pull, as the emulator does (100), and records the calls."""

    def __init__(self, backlog: int, page: int = 100) -> None:
        self.backlog = [
            ReceivedMessage(ack_id=str(i), message=PubsubMessage(data=b"m%d" % i, message_id=f"id{i}"))
            for i in range(backlog)
        ]
        self.page = page
        self.calls: list[dict[str, Any]] = []

    def pull(self, **kwargs: Any) -> PullResponse:
        self.calls.append(kwargs)
        n = min(self.page, kwargs["max_messages"])
        taken, self.backlog = self.backlog[:n], self.backlog[n:]
        return PullResponse(received_messages=taken)

    def acknowledge(self, **kwargs: Any) -> str:
        self.calls.append({"acknowledge": kwargs["ack_ids"]})
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


def test_with_a_ledger_the_runners_ack_does_nothing_and_a_full_ledger_stops_pulling() -> None:
    client = FakeSubscriber(backlog=30, page=10)
    ledger = local_acks.AckLedger("p.d.raw", "p.d.dead", max_outstanding=20)
    pulls = _LargerPulls(client, max_messages=20, ledger=ledger)
    response = pulls.pull(subscription="s", max_messages=10, timeout=30)
    assert pulls.acknowledge(subscription="s", ack_ids=[m.ack_id for m in response.received_messages]) is None
    assert not [c for c in client.calls if "acknowledge" in c]
    assert ledger.outstanding() == 20
    calls = len(client.calls)
    assert len(pulls.pull(subscription="s", max_messages=10).received_messages) == 0  # full: no pull at all
    assert len(client.calls) == calls
    ledger.duplicate("id0")  # acked through the ledger, on the runner's client
    assert client.calls[-1] == {"acknowledge": ["0"]}
    assert len(pulls.pull(subscription="s", max_messages=10).received_messages) == 1


def test_an_insert_is_retried_through_an_outage_and_its_rows_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[int] = []

    def flaky_insert_all(self: Any, project: str, dataset: str, table: str, rows: list, *a: Any, **k: Any) -> Any:
        attempts.append(len(rows))
        if len(attempts) < 3:
            raise ConnectionError("bigquery away")
        return False, [{"index": 1, "errors": [{"reason": "invalid"}]}]

    monkeypatch.setattr(bigquery_tools.BigQueryWrapper, "_insert_all_rows", flaky_insert_all)
    monkeypatch.setattr(direct_pubsub, "_sleep", lambda s: None)
    ledger = local_acks.AckLedger("p.d.raw", "p.d.dead")
    client = FakeSubscriber(backlog=0)
    ledger.attach(client, "s")
    ledger.received([ReceivedMessage(ack_id=f"a{i}", message=PubsubMessage(message_id=f"m{i}")) for i in range(2)])
    ledger.expect_row(event_key(None, "e0"), "m0")
    ledger.expect_row(event_key(None, "e1"), "m1")
    try:
        direct_pubsub.install(100, ledger)
        wrapper = bigquery_tools.BigQueryWrapper.__new__(bigquery_tools.BigQueryWrapper)
        rows = [{"event_id": "e0"}, {"event_id": "e1"}]
        passed, errors = wrapper.insert_rows("p", "d", "raw", rows, insert_ids=["i0", "i1"])
    finally:
        direct_pubsub.reset()
    assert attempts == [2, 2, 2]
    assert (passed, [e["index"] for e in errors]) == (False, [1])  # Beam still sees the refused row
    assert client.calls == [{"acknowledge": ["a0"]}]  # only the written row's message
    assert local_acks.active() is None


def test_a_row_the_encoder_refuses_is_failed_alone_and_never_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pill of issue 21: Beam's own encoder (orjson) raises on a lone surrogate before any request.
    The wrap must not take that for an outage: the row comes back refused, the others are written."""
    sent: list[list[str]] = []

    def insert_all(self: Any, project: str, dataset: str, table: str, rows: list, *a: Any, **k: Any) -> Any:
        sent.append([r["event_id"] for r in rows])
        return True, []

    monkeypatch.setattr(bigquery_tools.BigQueryWrapper, "_insert_all_rows", insert_all)
    monkeypatch.setattr(direct_pubsub, "_sleep", lambda s: pytest.fail("a client error was retried"))
    rows = [{"event_id": f"e{i}"} for i in range(5)]
    rows[3] = {"event_id": "e3", "payload": "e\ud800"}
    try:
        direct_pubsub.install(100)
        wrapper = bigquery_tools.BigQueryWrapper.__new__(bigquery_tools.BigQueryWrapper)
        passed, errors = wrapper.insert_rows("p", "d", "dead", rows, insert_ids=[f"i{i}" for i in range(5)])
    finally:
        direct_pubsub.reset()
    assert not passed
    assert [(e["index"], e["errors"][0]["reason"]) for e in errors] == [(3, "invalid")]
    assert "surrogates not allowed" in errors[0]["errors"][0]["message"]
    assert sorted(i for batch in sent for i in batch) == ["e0", "e1", "e2", "e4"]  # each good row once


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (ConnectionError("reset"), True),
        (TimeoutError(), True),
        (api_exceptions.RetryError("deadline", None), True),
        (api_exceptions.InternalServerError("500"), True),
        (api_exceptions.TooManyRequests("429"), True),
        (api_exceptions.BadRequest("400"), False),
        (api_exceptions.Forbidden("403"), False),
        (TypeError("str is not valid UTF-8: surrogates not allowed"), False),
        (UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed"), False),
    ],
)
def test_only_transport_and_server_errors_are_transient(error: Exception, transient: bool) -> None:
    assert direct_pubsub.is_transient(error) is transient


def test_the_row_size_check_measures_the_rows_json_and_still_refuses_an_oversized_row() -> None:
    from apache_beam.io.gcp.bigquery import BigQueryWriteFn

    original = BigQueryWriteFn._check_row_size
    fn = BigQueryWriteFn.__new__(BigQueryWriteFn)
    fn._max_insert_payload_size = 1000
    small = ({"event_id": "e1", "station_id": "3186", "ts_iso": "2019-09-09T08:30:00.000Z"}, "insert-1")
    big = ({"event_id": "e2", "payload": "x" * 2000}, "insert-2")
    try:
        direct_pubsub.install(100)
        assert BigQueryWriteFn._check_row_size is not original
        size, error = fn._check_row_size(small)
        assert (size, error) == (len(json.dumps(small).encode()), None)
        size, error = fn._check_row_size(big)
        assert size > 2000
        assert "exceeds the maximum insert payload size" in (error or "")
    finally:
        direct_pubsub.reset()
    assert BigQueryWriteFn._check_row_size is original
