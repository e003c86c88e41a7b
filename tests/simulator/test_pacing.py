"""Pacing follows event time divided by the speed-up, against a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.simulator.pacing import Pacer

T0 = datetime(2019, 9, 1, 4, tzinfo=UTC)


def test_speed_up_maps_event_time_to_wall_time(fake_clock) -> None:
    pacer = Pacer(3600, fake_clock)
    start = fake_clock.now
    for minutes in (0, 30, 60, 60, 150):
        pacer.wait_for(T0 + timedelta(minutes=minutes))
        assert fake_clock.now - start == pytest.approx(minutes * 60 / 3600)
    assert pacer.slept == pytest.approx(2.5)


def test_a_late_publisher_catches_up_without_sleeping(fake_clock) -> None:
    pacer = Pacer(60, fake_clock)
    pacer.wait_for(T0)
    fake_clock.now += 10  # publishing took 10 s: events due within that time go out at once
    pacer.wait_for(T0 + timedelta(minutes=5))  # due after 5 s
    assert fake_clock.sleeps == []
    pacer.wait_for(T0 + timedelta(minutes=15))  # due after 15 s
    assert fake_clock.sleeps == [pytest.approx(5.0)]


@pytest.mark.parametrize("speed_up", [None, 0])
def test_no_speed_up_means_as_fast_as_possible(fake_clock, speed_up) -> None:
    pacer = Pacer(speed_up, fake_clock)
    for hours in range(5):
        pacer.wait_for(T0 + timedelta(hours=hours))
    assert fake_clock.sleeps == []


def test_negative_speed_up_is_rejected() -> None:
    with pytest.raises(ValueError, match="speed-up"):
        Pacer(-1)
