"""Every dead letter can be written: whatever a message holds, its dead-letter row passes the sink's encoders.

Issue 21's pill was a 105-byte valid-JSON message whose ``event_id`` was the escape of a lone surrogate:
its dead letter quoted the decoded string, Beam's encoder (orjson) refused the row, and the insert was
retried forever. These properties draw text with lone surrogates and NUL in every field and key (the
default text strategy never draws surrogates) and check what the sink does with the row: Beam's
``fast_json_dumps`` (orjson when installed, as here) and the BigQuery client's JSON as UTF-8 bytes.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from apache_beam.io.gcp import bigquery_tools
from apache_beam.io.gcp.pubsub import PubsubMessage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include.beam.pipeline.transforms import (
    DEAD_LETTER,
    FailedWriteToDeadLetter,
    ParseEvents,
    Received,
    conflicting_duplicate,
)
from include.gcp.events import FIELDS, MAX_MESSAGE_BYTES, parse_event

# Any character, lone surrogates and NUL included.
chars = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.just("\x00"))
texts = st.text(chars, max_size=40)
values = st.one_of(
    texts, st.integers(), st.none(), st.lists(texts, max_size=3), st.dictionaries(texts, texts, max_size=2)
)
GOOD = {
    "system_id": "citibike-jc",
    "event_id": "e1",
    "station_id": "3186",
    "ts_iso": "2019-09-01T04:00:00Z",
    "kind": "pickup",
    "delta": 1,
}


def assert_writable(row: dict[str, Any]) -> None:
    """The row passes Beam's encoder and the client's request body, both as UTF-8."""
    assert bigquery_tools.fast_json_dumps is orjson.dumps  # the encoder that refused the pill
    bigquery_tools.fast_json_loads(bigquery_tools.fast_json_dumps(row))
    json.dumps(row, ensure_ascii=False).encode("utf-8")
    for value in row.values():
        assert value is None or isinstance(value, str)


def dead_letters_of(data: bytes) -> list[dict[str, Any]]:
    out = list(ParseEvents().process(PubsubMessage(data, {}, message_id="m1")))
    return [o.value for o in out if getattr(o, "tag", None) == DEAD_LETTER]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.one_of(st.sampled_from(FIELDS), texts), values, max_size=7))
def test_a_dead_letter_of_any_json_object_serialises(record: dict[str, Any]) -> None:
    data = json.dumps(record).encode()  # ensure_ascii: surrogates travel as \udxxx escapes, valid JSON
    for row in dead_letters_of(data):
        assert_writable(row)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIELDS), texts)
def test_a_surrogate_in_any_field_or_key_is_escaped_in_the_dead_letter(field: str, text: str) -> None:
    for record in ({**GOOD, field: "e\ud800" + text}, {**GOOD, "\udfff" + text: 1}):
        (row,) = dead_letters_of(json.dumps(record).encode())
        assert_writable(row)
        assert "\\ud800" in row["error"] or "\\udfff" in row["error"] or row["reason"] == "too_late"


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=MAX_MESSAGE_BYTES + 64))
def test_a_dead_letter_of_any_bytes_up_to_the_cap_serialises(data: bytes) -> None:
    for row in dead_letters_of(data):
        assert_writable(row)


def test_the_105_byte_pill_becomes_a_writable_dead_letter() -> None:
    pill = json.dumps({**GOOD, "event_id": "e\ud800"}).encode()  # 137 bytes of ASCII, valid JSON
    (row,) = dead_letters_of(pill)
    assert_writable(row)
    assert row["reason"] == "bad_event_id"
    assert row["error"].endswith("got 'e\\ud800'")  # the escape, as text
    assert row["payload"] == pill.decode()


@given(texts)
def test_refused_rows_and_conflicting_copies_serialise(text: str) -> None:
    (refused,) = FailedWriteToDeadLetter().process(("t", {"event_id": "e1", "x": text}, [{"message": text}]))
    assert_writable(refused)
    event = parse_event(json.dumps(GOOD).encode())
    assert_writable(conflicting_duplicate(Received(event, "m1", text.encode("utf-8", "surrogatepass")), text))
