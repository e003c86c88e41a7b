"""The event contract (include/gcp/events.py): every input gives a valid event or a reason, never an exception."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include.gcp.events import (
    DEFAULT_LIMITS,
    FIELDS,
    MAX_MESSAGE_BYTES,
    REASONS,
    SIMULATED_NOW_ATTRIBUTE,
    Event,
    Limits,
    Rejection,
    classify,
    format_ts,
    parse_ts,
    simulated_now,
)
from include.systems import DEFAULT_SYSTEM

NOW = datetime(2019, 9, 29, 12, 0, tzinfo=UTC)
GOOD = {
    "system_id": "citibike-jc",
    "event_id": "abc123-p",
    "station_id": "3186",
    "ts_iso": "2019-09-29T11:59:00Z",
    "kind": "pickup",
    "delta": 1,
}
NO_CAP = Limits(max_bytes=None)


def encode(record: object) -> bytes:
    return json.dumps(record).encode()


def reason(payload: bytes, now: datetime | None = NOW, limits: Limits = DEFAULT_LIMITS) -> str:
    result = classify(payload, now, limits)
    assert isinstance(result, Rejection), result
    return result.code


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def check_outcome(result: object) -> None:
    assert isinstance(result, (Event, Rejection))
    if isinstance(result, Rejection):
        assert result.code in REASONS
        assert result.code != "unexpected_error", result.detail  # every failure is an anticipated one


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_give_an_event_or_a_reason(payload: bytes) -> None:
    check_outcome(classify(payload, NOW))
    check_outcome(classify(payload, NOW, NO_CAP))


@settings(max_examples=400)
@given(json_values)
def test_arbitrary_json_gives_an_event_or_a_reason(value: object) -> None:
    check_outcome(classify(encode(value), NOW, NO_CAP))


@settings(max_examples=400)
@given(st.sampled_from(FIELDS), json_values)
def test_any_value_in_any_field_gives_an_event_or_that_fields_reason(field: str, value: object) -> None:
    result = classify(encode({**GOOD, field: value}), NOW, NO_CAP)
    check_outcome(result)
    if isinstance(result, Event):
        assert result.to_dict()[field] == value or field == "ts_iso"


ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._:-]{0,40}\Z")
stations = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,31}\Z")
ages = st.integers(min_value=-5 * 60 * 10**6, max_value=48 * 3600 * 10**6)  # µs before NOW, inside the limits


@given(ids, stations, ages, st.sampled_from(["pickup", "dropoff"]))
def test_valid_events_round_trip(event_id: str, station_id: str, age_us: int, kind: str) -> None:
    ts = NOW - timedelta(microseconds=age_us)
    record = {
        "system_id": "citibike-jc",
        "event_id": event_id,
        "station_id": station_id,
        "ts_iso": format_ts(ts),
        "kind": kind,
        "delta": 1,
    }
    event = classify(encode(record), NOW)
    assert event == Event(ts=ts, event_id=event_id, station_id=station_id, kind=kind, delta=1)
    assert classify(encode(event.to_dict()), NOW) == event


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        # the four poisons that stopped the pipeline on c4895d2
        (b"[" * 100_000, "too_large"),
        (encode({**GOOD, "kind": ["pickup"]}), "bad_kind"),
        (encode({**GOOD, "ts_iso": "0001-01-01T00:00:00+01:00"}), "bad_ts_iso"),
        (b"1" * 5_000, "too_large"),
        # what was accepted and must not be
        (encode({**GOOD, "ts_iso": "1900-01-01T00:00:00Z"}), "too_late"),
        (encode({**GOOD, "ts_iso": "2999-01-01T00:00:00Z"}), "future_ts"),
        (encode({**GOOD, "extra": "x" * 1_000_000}), "too_large"),
        (encode({**GOOD, "extra": 1}), "unknown_field"),
        (encode({**GOOD, "station_id": "a station; drop table"}), "bad_station_id"),
        (encode({**GOOD, "station_id": "S" * 33}), "bad_station_id"),
        (encode({**GOOD, "event_id": " abc"}), "bad_event_id"),
        (encode({**GOOD, "event_id": 7}), "bad_event_id"),
        (encode({**GOOD, "station_id": ""}), "missing_station"),
        (encode({k: v for k, v in GOOD.items() if k != "station_id"}), "missing_station"),
        (encode({k: v for k, v in GOOD.items() if k != "kind"}), "missing_field"),
        (encode({**GOOD, "delta": True}), "bad_delta"),
        (encode({**GOOD, "delta": 2}), "bad_delta"),
        (encode({**GOOD, "ts_iso": "2019-09-29 11:00"}), "bad_ts_iso"),
        (encode({**GOOD, "ts_iso": "2019-13-29T11:00:00Z"}), "bad_ts_iso"),
        (encode([GOOD]), "not_object"),
        (b"\xc3\x28", "not_utf8"),
        (b'{"event_id": ', "bad_json"),
        # strict JSON: a repeated key (any depth) is refused, not last-wins; no NaN or Infinity
        (encode(GOOD)[:-1] + b', "kind": "dropoff"}', "duplicate_key"),
        (encode(GOOD)[:-1] + b', "extra": {"a": 1, "a": 2}}', "duplicate_key"),
        (encode(GOOD).replace(b'"delta": 1', b'"delta": NaN'), "bad_json"),
        (encode(GOOD).replace(b'"delta": 1', b'"delta": -Infinity'), "bad_json"),
    ],
)
def test_each_rule_has_its_reason(payload: bytes, code: str) -> None:
    assert reason(payload) == code


def test_the_parser_survives_inputs_beyond_its_limits_when_uncapped() -> None:
    assert reason(b"[" * 100_000, limits=NO_CAP) == "bad_json"
    assert reason(b"1" * 5_000, limits=NO_CAP) == "bad_json"
    assert reason(b'{"a": ' * 2_000 + b"1" + b"}" * 2_000, limits=NO_CAP) == "bad_json"


def test_the_time_window_follows_the_clock_and_the_limits() -> None:
    limits = Limits(max_age=timedelta(hours=48), max_lead=timedelta(minutes=5))
    at = {**GOOD}
    for age, code in [(timedelta(hours=47, minutes=59), None), (timedelta(hours=48, seconds=1), "too_late")]:
        at["ts_iso"] = format_ts(NOW - age)
        result = classify(encode(at), NOW, limits)
        assert (result.code if isinstance(result, Rejection) else None) == code
    at["ts_iso"] = format_ts(NOW + timedelta(minutes=4))
    assert isinstance(classify(encode(at), NOW, limits), Event)
    at["ts_iso"] = format_ts(NOW + timedelta(minutes=6))
    assert reason(encode(at), limits=limits) == "future_ts"
    # no clock (the history loader): no window
    assert isinstance(classify(encode({**GOOD, "ts_iso": "1900-01-01T00:00:00Z"}), None), Event)
    # a clock at the end of time does not overflow
    assert reason(encode(GOOD), now=datetime(9999, 12, 31, 23, 59, tzinfo=UTC)) == "too_late"


def test_a_rejection_keeps_a_well_formed_event_id_only() -> None:
    assert classify(encode({**GOOD, "kind": "teleport"}), NOW).event_id == "abc123-p"
    assert classify(encode({**GOOD, "event_id": "x" * 500, "kind": "teleport"}), NOW).event_id is None


def test_size_cap_counts_bytes() -> None:
    padded = encode({**GOOD, "station_id": "3186"}).ljust(MAX_MESSAGE_BYTES)
    assert isinstance(classify(padded, NOW), Event)  # trailing spaces are valid JSON
    assert reason(padded + b" ") == "too_large"


def test_timestamps() -> None:
    assert parse_ts("2019-09-29T07:59:00.123456789-04:00") == datetime(2019, 9, 29, 11, 59, 0, 123456, tzinfo=UTC)
    assert format_ts(datetime(2019, 9, 29, 11, 59, tzinfo=UTC)) == "2019-09-29T11:59:00.000000Z"
    assert simulated_now({SIMULATED_NOW_ATTRIBUTE: "2019-09-29T12:00:00Z"}) == NOW
    assert simulated_now({SIMULATED_NOW_ATTRIBUTE: "soon"}) is None
    assert simulated_now(None) is None


def test_conflicting_copies_have_different_fingerprints() -> None:
    a = classify(encode(GOOD), NOW)
    assert a.fingerprint() == classify(encode(dict(reversed(GOOD.items()))), NOW).fingerprint()
    assert a.fingerprint() != classify(encode({**GOOD, "station_id": "3187"}), NOW).fingerprint()
    assert 0 <= a.fingerprint() < 2**63


def test_system_id_is_required_and_never_guessed() -> None:
    event = classify(encode(GOOD), NOW)
    assert isinstance(event, Event)
    assert event.system_id == DEFAULT_SYSTEM
    assert json.loads(event.to_json())["system_id"] == DEFAULT_SYSTEM  # what the simulator sends
    without = {k: v for k, v in GOOD.items() if k != "system_id"}
    for payload in (encode(without), encode({**GOOD, "system_id": None})):
        result = classify(payload, NOW)
        assert isinstance(result, Rejection)
        assert (result.code, result.event_id, result.system_id) == ("missing_field", "abc123-p", None)
        assert "system_id" in result.detail


def test_a_system_outside_the_table_is_a_dead_letter_naming_the_known_ones() -> None:
    result = classify(encode({**GOOD, "system_id": "gotham"}), NOW)
    assert isinstance(result, Rejection)
    assert (result.code, result.event_id) == ("unknown_system", "abc123-p")
    assert "'gotham'" in result.detail
    assert DEFAULT_SYSTEM in result.detail
    for bad in ("Gotham", "", "-x", "a" * 33, 7, ["citibike-jc"]):
        assert reason(encode({**GOOD, "system_id": bad})) == "bad_system_id"


def test_the_accepted_systems_can_be_given_as_a_flag_would() -> None:
    limits = Limits(systems=frozenset({"ny", "phx"}))
    phx = classify(encode({**GOOD, "system_id": "phx"}), NOW, limits)
    assert isinstance(phx, Event)
    assert phx.system_id == "phx"
    assert reason(encode({**GOOD, "system_id": DEFAULT_SYSTEM}), NOW, limits) == "unknown_system"


def test_the_same_event_id_in_two_systems_is_two_events_with_one_fingerprint_rule() -> None:
    ny = Event(NOW, "abc123-p", "100", "pickup", system_id="ny")
    phx = Event(NOW, "abc123-p", "100", "pickup", system_id="phx")
    assert ny != phx
    assert ny.fingerprint() == phx.fingerprint()  # the key (system_id, event_id) tells them apart, not the content
