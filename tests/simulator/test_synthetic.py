"""Synthetic mode: pickups per hour follow the hour-of-day profile, reproducibly."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from include.simulator.synthetic import HOURLY_PROFILE, SyntheticSpec, synthetic_events, synthetic_trips

START = datetime(2026, 1, 5, tzinfo=UTC)


def test_profile_has_mean_one_and_commute_peaks() -> None:
    assert sum(HOURLY_PROFILE) / 24 == pytest.approx(1.0)
    assert HOURLY_PROFILE[8] > 2 * HOURLY_PROFILE[12] > 4 * HOURLY_PROFILE[3]


def test_pickups_per_hour_match_the_rates() -> None:
    spec = SyntheticSpec(START, hours=48, stations=100, rate=2.0, seed=7)
    pickups = Counter(e.ts.hour for e in synthetic_events(spec) if e.kind == "pickup")
    for hour in range(24):
        expected = 2 * spec.hour_rate(hour)  # two days
        assert abs(pickups[hour] - expected) < 5 * math.sqrt(expected) + 1, (hour, pickups[hour], expected)
    total_expected = 48 * 100 * 2.0
    assert abs(sum(pickups.values()) - total_expected) < 5 * math.sqrt(total_expected)


def test_events_stay_in_the_window_in_order_with_station_ids_in_range() -> None:
    spec = SyntheticSpec(START, hours=3, stations=5, rate=4.0, seed=1)
    events = synthetic_events(spec)
    assert events == sorted(events)
    assert all(START <= e.ts < START + timedelta(hours=3) for e in events)
    assert {e.station_id for e in events} <= {f"SYN{i:04d}" for i in range(5)}
    trips = synthetic_trips(spec)
    assert len([e for e in events if e.kind == "pickup"]) == len(trips)
    assert all(timedelta(minutes=3) <= t.ended_at - t.started_at for t in trips)


def test_same_spec_same_events_other_seed_other_ids() -> None:
    spec = SyntheticSpec(START, hours=2, stations=10, seed=3)
    assert synthetic_events(spec) == synthetic_events(spec)
    other = {e.event_id for e in synthetic_events(SyntheticSpec(START, hours=2, stations=10, seed=4))}
    assert not other & {e.event_id for e in synthetic_events(spec)}


def test_invalid_spec_is_rejected() -> None:
    with pytest.raises(ValueError, match="positive"):
        SyntheticSpec(START, stations=0)
