"""The backtest's accounting (include/rebalancing/backtest.py) on tiny synthetic months: failures as a hand
count, a truck's move preventing the failures it should, the naive policy inside the fleet's limits, the same
rider events for every policy, determinism, and an honest forecaster. Pure: no stack, no trip files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from include.rebalancing.backtest import (
    OUTSIDE,
    HourlyCounts,
    NaivePolicy,
    Network,
    NoRebalancing,
    PlanPolicy,
    ReplayScheduleBudget,
    Routes,
    SameCountsBudget,
    TrailingMeanForecaster,
    Trips,
    replay,
    window_events,
)
from include.rebalancing.inventory import DROPOFF, PICKUP
from include.rebalancing.plan import Fleet, Move

START = datetime(2019, 7, 1, 4, tzinfo=UTC)
T0 = START.timestamp()

# Four stations a few hundred metres apart: A (4 docks), B (10), C (2), D (6).
NET = Network(
    ("A", "B", "C", "D"),
    np.array([4, 10, 2, 6]),
    np.array([40.7200, 40.7210, 40.7230, 40.7190]),
    np.array([-74.0400, -74.0420, -74.0380, -74.0450]),
)
A, B, C, D = range(4)
FLEET = Fleet(trucks=1, truck_capacity=5)


def trips(*rows: tuple[int, int, float, float]) -> Trips:
    """(start station, end station, start minute, end minute) after START."""
    s, e, t1, t2 = (np.array(col) for col in zip(*rows, strict=True))
    return Trips(s.astype(np.int64), e.astype(np.int64), T0 + 60.0 * t1, T0 + 60.0 * t2)


class Scripted:
    """Moves given per hour index."""

    name = "scripted"

    def __init__(self, moves: dict[int, list[Move]]) -> None:
        self.moves = moves

    def decide(self, at: datetime, bikes: np.ndarray) -> list[Move]:
        return self.moves.get(int((at - START) / timedelta(hours=1)), [])


class Flat:
    """A forecaster with the same rates every hour."""

    name = "flat"

    def __init__(self, pickups: list[float], dropoffs: list[float]) -> None:
        self.p, self.d = np.array(pickups, float), np.array(dropoffs, float)

    def rates(self, at: datetime, hours: int) -> tuple[np.ndarray, np.ndarray]:
        return np.repeat(self.p[:, None], hours, axis=1), np.repeat(self.d[:, None], hours, axis=1)


def test_no_rebalancing_counts_failures_as_by_hand() -> None:
    # Start: A 1 bike, B 5, C 2 (full), D 3.
    month = trips(
        (A, B, 1, 10),  # A 1 → 0; B 5 → 6
        (A, B, 2, 12),  # A empty: failed pickup; the trip is lost, so no dropoff at B
        (A, C, 3, 13),  # failed pickup again, lost: C stays full
        (B, C, 5, 20),  # B 6 → 5 at 5; at 20 C is full: failed return, the bike goes to the nearest free dock
        (D, C, 30, 40),  # D 3 → 2; C full again: second failed return
        (OUTSIDE, A, 50, 55),  # a bike from an unmodelled station: A 0 → 1
        (A, OUTSIDE, 58, 70),  # A 1 → 0; the dropoff outside is not modelled
    )
    events = window_events(month, START, 2)
    result = replay(NET, events, START, 2, NoRebalancing(), FLEET, np.array([1, 5, 2, 3]))
    assert result.failed_pickups.tolist() == [2, 0, 0, 0]
    assert result.failed_returns.tolist() == [0, 0, 2, 0]
    assert (result.pickups, result.returns, result.lost_returns) == (6, 4, 2)
    # The two refused bikes went to the nearest stations with a free dock; bikes are conserved: 11 at the
    # start, 4 pickups served, 4 bikes returned inside the network (one from outside), one left it.
    assert result.end_bikes.sum() == 11 - 4 + 4
    assert result.end_bikes[C] == 2
    assert (result.bikes_moved, result.stops, result.moves) == (0, 0, 0)


def test_window_cuts_by_event_time() -> None:
    month = trips((A, B, -30, 5), (B, A, 100, 130), (A, D, 10, 200))
    events = window_events(month, START, 2)
    # Trip 0 contributes its dropoff only, trip 2 its pickup only, trip 1 both.
    assert list(zip(events.trip.tolist(), events.delta.tolist(), strict=True)) == [
        (0, DROPOFF),
        (2, PICKUP),
        (1, PICKUP),
    ]


def test_a_move_before_an_emptying_hour_prevents_its_failed_pickups() -> None:
    # A starts empty; five riders want a bike at A in hour 1. B has plenty.
    month = trips(*[(A, D, 70 + i, 90 + i) for i in range(5)])
    events = window_events(month, START, 2)
    start = np.array([0, 8, 0, 0])
    none = replay(NET, events, START, 2, NoRebalancing(), FLEET, start)
    move = Scripted({0: [Move("B", "A", 3, 1, 1)]})
    moved = replay(NET, events, START, 2, move, FLEET, start)
    assert none.failed_pickups[A] == 5
    assert moved.failed_pickups[A] == 2  # three bikes delivered, three riders served
    assert (moved.bikes_moved, moved.stops, moved.moves, moved.over_budget) == (3, 2, 1, 0)
    # The same move made after the riders came helps nobody.
    late = replay(NET, events, START, 3, Scripted({2: [Move("B", "A", 3, 1, 1)]}), FLEET, start)
    assert late.failed_pickups[A] == 5


def test_a_move_takes_effect_when_the_truck_gets_there() -> None:
    # A rider at A one second into the hour: the truck (depot, a stop at B, a stop at A) is not there yet.
    month = trips((A, D, 1 / 60, 30), (A, D, 50, 60))
    events = window_events(month, START, 1)
    result = replay(NET, events, START, 1, Scripted({0: [Move("B", "A", 1, 1, 1)]}), FLEET, np.array([0, 8, 0, 0]))
    assert result.failed_pickups[A] == 1  # the first rider; the second finds the delivered bike


def test_a_load_takes_only_what_the_station_still_has() -> None:
    month = trips(*[(B, D, 0.01 * (i + 1), 30) for i in range(3)])  # B's two bikes gone before the truck comes
    events = window_events(month, START, 1)
    result = replay(NET, events, START, 1, Scripted({0: [Move("B", "A", 2, 1, 1)]}), FLEET, np.array([0, 2, 0, 0]))
    assert result.failed_pickups[B] == 1
    assert result.bikes_moved == 0
    assert result.end_bikes[A] == 0


def test_naive_policy_respects_truck_capacity_and_budget() -> None:
    # Stations about 4 km apart, big imbalances: more pairs than one truck's hour can hold.
    far = Network(
        ("A", "B", "C", "D"),
        np.array([40, 40, 40, 40]),
        np.array([40.70, 40.736, 40.70, 40.736]),
        np.array([-74.00, -74.00, -74.047, -74.047]),
    )
    for fleet in (Fleet(trucks=1, truck_capacity=5), Fleet(trucks=2, truck_capacity=20), Fleet(trucks=3)):
        policy = NaivePolicy(far, fleet)
        bikes = np.array([40, 0, 37, 3])
        moves = policy.decide(START, bikes)
        routes = Routes(far, fleet)
        _, totals = routes.schedule(moves)
        assert moves, fleet
        assert all(1 <= m.bikes <= fleet.truck_capacity for m in moves)
        assert {m.truck for m in moves} <= set(range(1, fleet.trucks + 1))
        assert all(t <= routes.budget for t in totals)
        # The greedy rule: the fullest gives to the emptiest first.
        assert (moves[0].from_station, moves[0].to_station) == ("A", "B")
        # Never beyond half full: every station moves toward capacity // 2 only.
        after = bikes.copy()
        for m in moves:
            after[far.index()[m.from_station]] -= m.bikes
            after[far.index()[m.to_station]] += m.bikes
        assert np.all(np.abs(after - 20) <= np.abs(bikes - 20))
    # One truck of 5 bikes and 4 km legs: one move an hour, far fewer bikes than the imbalance asks for.
    moves = NaivePolicy(far, Fleet(trucks=1, truck_capacity=5)).decide(START, np.array([40, 0, 37, 3]))
    assert [(m.from_station, m.to_station, m.bikes) for m in moves] == [("A", "B", 5)]


def test_naive_policy_in_a_replay_stays_within_budget() -> None:
    month = trips(*[(A, B, 5 * i, 5 * i + 3) for i in range(20)])
    events = window_events(month, START, 3)
    result = replay(NET, events, START, 3, NaivePolicy(NET, FLEET), FLEET, np.array([4, 0, 0, 6]))
    assert result.over_budget == 0
    assert result.moves > 0
    assert result.stops == 2 * result.moves
    assert result.bikes_moved <= FLEET.truck_capacity * result.moves


def policies() -> list:
    return [
        NoRebalancing(),
        NaivePolicy(NET, FLEET),
        PlanPolicy(NET, FLEET, Flat([3.0, 0.5, 0.2, 0.5], [0.2, 3.0, 0.3, 0.5]), time_limit_s=0.5),
    ]


def busy_month() -> Trips:
    rng = np.random.default_rng(7)
    rows = []
    for _ in range(60):
        s, e = rng.choice(4, size=2, replace=False)
        t = rng.uniform(0, 170)
        rows.append((int(s), int(e), t, t + rng.uniform(2, 20)))
    return trips(*rows)


def test_the_three_policies_see_the_same_events() -> None:
    events = window_events(busy_month(), START, 3)
    seen = []
    results = []
    for policy in policies():
        log: list[tuple[int, float, int, int]] = []
        results.append(replay(NET, events, START, 3, policy, FLEET, on_event=lambda *e, log=log: log.append(e)))
        seen.append(log)
    assert len(seen[0]) == len(events)
    assert seen[0] == seen[1] == seen[2]
    assert len({r.pickups for r in results}) == 1
    assert len({r.returns + r.lost_returns for r in results}) == 1
    assert results[2].moves > 0  # the plan did act


def test_a_bike_budget_keeps_the_plan_within_the_naive_policys_bikes_each_hour() -> None:
    events = window_events(busy_month(), START, 3)
    naive, plan = policies()[1:]
    capped = PlanPolicy(NET, FLEET, plan.forecaster, time_limit_s=0.5, bike_budget=SameCountsBudget(naive))
    budgets: list[int] = []
    decide = capped.decide

    def watched(at: datetime, bikes: np.ndarray) -> list:
        budgets.append(sum(m.bikes for m in naive.decide(at, bikes)))
        moves = decide(at, bikes)
        assert sum(m.bikes for m in moves) <= budgets[-1]
        return moves

    capped.decide = watched  # type: ignore[method-assign]
    result = replay(NET, events, START, 3, capped, FLEET)
    assert len(budgets) == 3
    assert sum(budgets) > 0
    assert 0 < result.bikes_moved <= sum(budgets)


def test_the_replay_budget_banks_naives_own_bikes_and_never_lends_ahead() -> None:
    events = window_events(busy_month(), START, 3)
    naive, plan = policies()[1:]
    naive_result = replay(NET, events, START, 3, naive, FLEET)
    assert len(naive_result.bikes_per_hour) == 3
    assert sum(naive_result.bikes_per_hour) == naive_result.bikes_moved > 0
    budget = ReplayScheduleBudget(START, naive_result.bikes_per_hour)
    capped = PlanPolicy(NET, FLEET, plan.forecaster, time_limit_s=0.5, bike_budget=budget)
    scheduled: list[int] = []
    decide = capped.decide

    def watched(at: datetime, bikes: np.ndarray) -> list:
        moves = decide(at, bikes)
        scheduled.append(sum(m.bikes for m in moves))
        hour = len(scheduled)
        assert sum(scheduled) <= sum(naive_result.bikes_per_hour[:hour])  # never ahead of naive's own replay
        return moves

    capped.decide = watched  # type: ignore[method-assign]
    result = replay(NET, events, START, 3, capped, FLEET)
    assert 0 < result.bikes_moved <= naive_result.bikes_moved
    assert budget.spent == sum(scheduled)


def test_the_replay_budget_carries_unused_bikes_forward() -> None:
    budget = ReplayScheduleBudget(START, [5, 0, 3])
    bikes = np.zeros(4, dtype=np.int64)
    assert budget.allowance(START, bikes) == 5
    budget.spend(2)
    assert budget.allowance(START + timedelta(hours=1), bikes) == 3
    budget.spend(3)
    assert budget.allowance(START + timedelta(hours=2), bikes) == 3
    with pytest.raises(ValueError, match="outside"):
        budget.allowance(START + timedelta(hours=3), bikes)


def test_deterministic() -> None:
    events = window_events(busy_month(), START, 3)
    runs = [[replay(NET, events, START, 3, p, FLEET) for p in policies()] for _ in range(2)]
    for first, second in zip(*runs, strict=True):
        assert first.failed_pickups.tolist() == second.failed_pickups.tolist()
        assert first.failed_returns.tolist() == second.failed_returns.tolist()
        assert (first.bikes_moved, first.stops, first.end_bikes.tolist()) == (
            second.bikes_moved,
            second.stops,
            second.end_bikes.tolist(),
        )


def counts(hours: int = 24 * 40) -> HourlyCounts:
    rng = np.random.default_rng(1)
    return HourlyCounts(
        datetime(2019, 1, 1), "America/New_York", rng.poisson(2.0, (hours, 4)) * 1.0, rng.poisson(1.0, (hours, 4)) * 1.0
    )


def test_forecaster_uses_only_the_past() -> None:
    c = counts()
    at = datetime(2019, 2, 5, 17, tzinfo=UTC)  # local 12:00, five weeks in
    before = TrailingMeanForecaster(c).rates(at, 3)
    cut = c.local_index(at)
    future = HourlyCounts(c.origin, c.time_zone, c.pickups.copy(), c.dropoffs.copy())
    future.pickups[cut:] = 999.0
    future.dropoffs[cut:] = 999.0
    after = TrailingMeanForecaster(future).rates(at, 3)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    # Four weeks known: the mean of the same weekday and hour, 1..4 weeks back.
    np.testing.assert_allclose(before[0][:, 1], c.pickups[cut + 1 - 168 * np.arange(1, 5)].mean(axis=0))


def test_forecaster_falls_back_to_previous_days_in_january() -> None:
    c = counts()
    at = datetime(2019, 1, 10, 17, tzinfo=UTC)  # day 9: fewer than four weeks
    pickups, _ = TrailingMeanForecaster(c).rates(at, 1)
    cut = c.local_index(at)
    np.testing.assert_allclose(pickups[:, 0], c.pickups[cut - 24 * np.arange(1, 10)].mean(axis=0))
    first_day, _ = TrailingMeanForecaster(c).rates(datetime(2019, 1, 1, 9, tzinfo=UTC), 3)
    assert not first_day.any()


def test_hourly_counts_bin_trips_in_local_time() -> None:
    # 2019-03-10 is the spring-forward day: 07:30 UTC is 03:30 local (EDT), 06:30 UTC is 01:30 local (EST).
    t = np.array(
        [datetime(2019, 3, 10, 6, 30, tzinfo=UTC).timestamp(), datetime(2019, 3, 10, 7, 30, tzinfo=UTC).timestamp()]
    )
    month = Trips(np.array([A, A]), np.array([OUTSIDE, OUTSIDE]), t, t)
    c = HourlyCounts.from_trips(month, 4, datetime(2019, 3, 10), 24, "America/New_York")
    assert np.flatnonzero(c.pickups[:, A]).tolist() == [1, 3]


def test_forecaster_refuses_horizons_past_a_day() -> None:
    with pytest.raises(ValueError, match=r"1\.\.24"):
        TrailingMeanForecaster(counts()).rates(datetime(2019, 2, 5, tzinfo=UTC), 25)
