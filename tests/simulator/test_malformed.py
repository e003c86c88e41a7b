"""Injected messages are reproducible, counted by type, have the documented shapes, and are named by the
reason code the validator dead-letters them with."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from include.gcp.events import REASONS, Event, Rejection, classify
from include.simulator.malformed import DUPLICATE, INJECTED_TYPES, MALFORMED_TYPES, VALID, with_malformed
from include.simulator.synthetic import SyntheticSpec, synthetic_events
from tests.simulator.test_synthetic import START

EVENTS = synthetic_events(SyntheticSpec(START, hours=6, stations=20, rate=2.0, seed=0))


def test_no_share_means_only_the_valid_events() -> None:
    messages = list(with_malformed(EVENTS))
    assert [m.data for m in messages] == [e.to_json() for e in EVENTS]
    assert {m.kind for m in messages} == {VALID}


def test_injection_is_seeded_and_accounts_for_every_message() -> None:
    messages = list(with_malformed(EVENTS, share=0.2, seed=11))
    assert messages == list(with_malformed(EVENTS, share=0.2, seed=11))
    assert messages != list(with_malformed(EVENTS, share=0.2, seed=12))
    kinds = Counter(m.kind for m in messages)
    assert kinds[VALID] == len(EVENTS)
    injected = len(messages) - len(EVENTS)
    assert abs(injected - 0.2 * len(EVENTS)) < 5 * (0.2 * 0.8 * len(EVENTS)) ** 0.5
    assert set(kinds) == {VALID, *INJECTED_TYPES}  # every type shows up in a few hundred draws
    valid_in_order = [m for m in messages if m.kind == VALID]
    assert [m.data for m in valid_in_order] == [e.to_json() for e in EVENTS]


def test_shapes_are_the_documented_ones() -> None:
    messages = list(with_malformed(EVENTS, share=0.5, seed=5))
    valid_ids = {e.event_id for e in EVENTS}
    seen_before: set[bytes] = set()
    for m in messages:
        if m.kind == VALID:
            seen_before.add(m.data)
            continue
        if m.kind == "duplicate":
            assert m.data in seen_before
            assert m.event_id in valid_ids
            continue
        if m.kind == "bad_json":
            with pytest.raises(json.JSONDecodeError):
                json.loads(m.data)
            continue
        body = json.loads(m.data)
        assert body["event_id"] == m.event_id
        assert body["event_id"] not in valid_ids
        assert m.kind in MALFORMED_TYPES
        if m.kind == "bad_kind":
            assert body["kind"] == "teleport"
        elif m.kind == "missing_station":
            assert "station_id" not in body
        elif m.kind == "unknown_system":
            assert body["system_id"] == "no-such-system"
        else:
            assert body["ts_iso"] == "not-a-timestamp"
    assert {m.kind for m in messages} >= set(MALFORMED_TYPES)


def test_injected_by_type_is_dead_lettered_by_code() -> None:
    """Every malformed type is a reason code, and the validator refuses each message with its own type."""
    assert set(MALFORMED_TYPES) <= set(REASONS)
    messages = list(with_malformed(EVENTS, share=1.0, seed=3))
    injected = [m for m in messages if m.kind in MALFORMED_TYPES]
    assert {m.kind for m in injected} == set(MALFORMED_TYPES)
    for m in injected:
        result = classify(m.data)  # no clock: the replay's past times are not what is tested here
        assert isinstance(result, Rejection), m
        assert result.code == m.kind, (m, result)
        assert result.event_id == m.event_id
    # the rest pass the contract: the valid events, and the duplicates (removed by id, not refused)
    for m in messages:
        if m.kind in (VALID, DUPLICATE):
            assert isinstance(classify(m.data), Event)


def test_share_must_be_a_probability() -> None:
    with pytest.raises(ValueError, match="share"):
        list(with_malformed(EVENTS, share=1.5))
