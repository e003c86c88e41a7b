"""Docks rebuilt from events (include/rebalancing/inventory.py): clamping, failures, spells, speed."""

from __future__ import annotations

import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from include.rebalancing.inventory import DROPOFF, PICKUP, UNKNOWN_CAPACITY, Docks, start_snapshot


def test_start_snapshot_is_half_of_capacity_rounded_down_and_empty_where_unknown() -> None:
    assert start_snapshot([19, 20, 0, 1, UNKNOWN_CAPACITY]).tolist() == [9, 10, 0, 0, 0]
    with pytest.raises(ValueError, match="capacity"):
        start_snapshot([-2])


def test_pickups_at_an_empty_dock_and_returns_at_a_full_one_fail_and_are_counted() -> None:
    docks = Docks.start([2], at=0.0)  # one bike
    assert docks.apply(0, PICKUP, 10.0)
    assert not docks.apply(0, PICKUP, 20.0)  # empty: a failed pickup, the count stays 0
    assert docks.bikes.tolist() == [0]
    assert docks.apply_many([0, 0, 0, 0], [DROPOFF] * 4, [30.0, 40.0, 50.0, 60.0]) == (0, 2)
    assert docks.bikes.tolist() == [2]
    assert docks.failed_pickups.tolist() == [1]
    assert docks.failed_returns.tolist() == [2]
    assert docks.docks_available.tolist() == [0]


def test_empty_and_full_spells_are_timed() -> None:
    docks = Docks.start([1, 4], at=0.0, bikes=[0, 2])  # station 0 empty from the start
    assert docks.empty_since[0] == 0.0
    assert np.isnan(docks.empty_since[1])
    docks.apply(0, DROPOFF, 600.0)  # empty 10 min, then full (capacity 1)
    assert docks.full_since[0] == 600.0
    assert np.isnan(docks.empty_since[0])
    docks.apply(0, PICKUP, 900.0)  # full 5 min, empty again
    assert docks.empty_minutes(1500.0).tolist() == [20.0, 0.0]  # 10 closed + 10 open
    assert docks.full_minutes(1500.0).tolist() == [5.0, 0.0]
    empty, full = docks.long_spells(900.0 + 31 * 60, limit_minutes=30)
    assert empty.tolist() == [True, False]
    assert full.tolist() == [False, False]
    assert docks.long_spells(900.0 + 29 * 60)[0].tolist() == [False, False]


def test_unknown_capacity_is_clamped_below_only() -> None:
    docks = Docks.start([UNKNOWN_CAPACITY], at=0.0)
    assert docks.bikes.tolist() == [0]
    assert not docks.known[0]
    assert not docks.apply(0, PICKUP, 1.0)
    assert docks.apply_many([0] * 50, [DROPOFF] * 50, np.arange(50.0)) == (0, 0)
    assert docks.bikes.tolist() == [50]
    assert docks.docks_available.tolist() == [0]
    assert np.isnan(docks.full_since[0])
    assert docks.empty_minutes(100.0).tolist() == [0.0]  # no spells: its stock is a guess


def test_grow_copy_and_set_bikes() -> None:
    docks = Docks.start([4], at=0.0)
    grown = docks.grow([6, UNKNOWN_CAPACITY], at=100.0)
    assert grown.capacity.tolist() == [4, 6, -1]
    assert grown.bikes.tolist() == [2, 3, 0]
    assert np.isnan(grown.empty_since[2])  # unknown capacity: no spells
    assert docks.size == 1
    clone = grown.copy()
    clone.set_bikes(1, 99, 200.0)  # a truck fills it: clamped to capacity, full from then
    assert clone.bikes[1] == 6
    assert clone.full_since[1] == 200.0
    assert grown.bikes[1] == 3
    clone.set_bikes(1, -5, 260.0)
    assert clone.bikes[1] == 0
    assert clone.full_minutes(260.0)[1] == 1.0
    assert clone.failed_pickups.sum() == 0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="bikes must be"):
        Docks([3], [4])
    docks = Docks.start([3], at=0.0)
    with pytest.raises(ValueError, match="delta"):
        docks.apply_many([0], [2], [0.0])
    with pytest.raises(IndexError):
        docks.apply(1, PICKUP, 0.0)


@settings(max_examples=300)
@given(
    st.lists(st.integers(min_value=-1, max_value=8), min_size=1, max_size=5),
    st.lists(st.tuples(st.integers(0, 4), st.sampled_from([PICKUP, DROPOFF])), max_size=200),
)
def test_counts_match_a_naive_clamped_walk(capacity: list[int], events: list[tuple[int, int]]) -> None:
    n = len(capacity)
    events = [(i % n, d) for i, d in events]
    docks = Docks.start(capacity, at=0.0)
    bikes = docks.bikes.tolist()
    fails = [0, 0]
    for i, d in events:
        nxt = bikes[i] + d
        if nxt < 0 or (capacity[i] >= 0 and nxt > capacity[i]):
            fails[0 if d == PICKUP else 1] += 1
        else:
            bikes[i] = nxt
    times = np.arange(len(events), dtype=float) * 60.0
    got = docks.apply_many([i for i, _ in events], [d for _, d in events], times) if events else (0, 0)
    assert docks.bikes.tolist() == bikes
    assert got == tuple(fails) == (int(docks.failed_pickups.sum()), int(docks.failed_returns.sum()))
    end = len(events) * 60.0
    assert (docks.empty_minutes(end) <= end / 60.0 + 1e-9).all()
    assert (docks.full_minutes(end) >= 0).all()
    assert ((docks.known & (docks.bikes == 0)) == ~np.isnan(docks.empty_since)).all()


def test_a_month_of_events_is_fast() -> None:
    """A Jersey City month is ~100k events over ~60 stations: well under a second."""
    rng = np.random.default_rng(0)
    n, k = 60, 100_000
    docks = Docks.start(rng.integers(10, 40, n), at=0.0)
    stations, deltas = rng.integers(0, n, k), rng.choice([PICKUP, DROPOFF], k)
    clock = time.perf_counter()
    docks.apply_many(stations, deltas, np.arange(k, dtype=float) * 25.0)
    assert time.perf_counter() - clock < 2.0
    assert ((docks.bikes >= 0) & (docks.bikes <= docks.capacity)).all()
