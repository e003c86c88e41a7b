"""The move plan (include/rebalancing/plan.py): the solver's answer against brute force on small cases, the
plan's invariants on random ones, and the edges. Pure: no stack.

The brute force shares only the model's integer distances and times (``leg_metres``, ``leg_seconds``,
``fleet_seconds``): it enumerates every set of moves in which no station appears twice, every bike count
1..truck capacity per move (not the solver's few), every split into truck routes and every order, so it also
checks the solver's exact reductions (useless pairs and bike counts left out).
"""

from __future__ import annotations

from itertools import permutations, product

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include.rebalancing.plan import (
    Fleet,
    Move,
    Plan,
    apply_moves,
    fleet_seconds,
    haversine_m,
    in_interval,
    leg_metres,
    leg_seconds,
    plan_moves,
    station_prizes,
)

LAT, LON = 40.72, -74.05  # Jersey City


def small_case(seed: int, trucks: int = 1, n: int | None = None) -> tuple[dict, Fleet]:
    """4-8 stations within ~2 km, capacities 3-8, most outside their interval, an hour for 1-4 moves."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(4, 9)) if n is None else n
    cap = rng.integers(3, 9, n)
    low = rng.integers(0, cap // 2 + 1)
    high = rng.integers(low, cap + 1)
    bikes = np.where(rng.random(n) < 0.6, np.where(rng.random(n) < 0.5, 0, cap), rng.integers(0, cap + 1))
    stations = {
        "station_ids": [f"s{i}" for i in range(n)],
        "lat": LAT + rng.uniform(-0.01, 0.01, n),
        "lon": LON + rng.uniform(-0.013, 0.013, n),
        "bikes": bikes,
        "capacity": cap,
        "target_low": low,
        "target_high": high,
    }
    fleet = Fleet(
        trucks=trucks,
        truck_capacity=int(rng.integers(2, 6)),
        minutes_per_hour=float(rng.choice([20, 30, 45, 60, 90] if trucks == 1 else [15, 20, 25, 30])),
        minutes_per_stop=float(rng.choice([2, 5])),
        depot=None if rng.random() < 0.5 else (LAT + rng.uniform(-0.01, 0.01), LON + rng.uniform(-0.013, 0.013)),
    )
    return stations, fleet


def depot_of(stations: dict, fleet: Fleet) -> tuple[float, float]:
    return (
        fleet.depot if fleet.depot is not None else (float(np.mean(stations["lat"])), float(np.mean(stations["lon"])))
    )


def brute_force(
    stations: dict, fleet: Fleet, priority: np.ndarray | None = None, max_bikes: int | None = None
) -> tuple[int, int]:
    """(stations inside after, each counted by its integer ``priority`` (default 1), metres) of the best plan
    under the model, by enumeration."""
    b, cap = np.asarray(stations["bikes"]), np.asarray(stations["capacity"])
    low, high = np.asarray(stations["target_low"]), np.asarray(stations["target_high"])
    n, inside = len(b), in_interval(b, low, high)
    metres = leg_metres(stations["lat"], stations["lon"], depot_of(stations, fleet))
    secs = leg_seconds(metres, fleet)
    budget, stop_s, bike_s = fleet_seconds(fleet)
    dep = n
    worth = np.ones(n, np.int64) if priority is None else np.asarray(priority, np.int64)

    def allowed(s: int, end: int) -> bool:
        return 0 <= end <= cap[s] and (not inside[s] or low[s] <= end <= high[s])

    bike_options = {
        (i, j): [k for k in range(1, fleet.truck_capacity + 1) if allowed(i, b[i] - k) and allowed(j, b[j] + k)]
        for i in range(n)
        for j in range(n)
        if i != j
    }
    pairs = [p for p, ks in bike_options.items() if ks]
    best = (int(worth[inside].sum()), 0)  # the empty plan

    def routings(moves: list[tuple[int, int]]):
        """Every split into at most `trucks` routes and every order: (per-route move indices, fixed seconds, metres)."""
        for owner in product(range(fleet.trucks), repeat=len(moves)):
            groups = [[m for m in range(len(moves)) if owner[m] == t] for t in range(fleet.trucks)]
            for orders in product(*(permutations(g) for g in groups)):
                routes, total_m = [], 0
                for order in orders:
                    here, seconds = dep, 0
                    for m in order:
                        i, j = moves[m]
                        seconds += secs[here, i] + secs[i, j] + 2 * stop_s
                        total_m += metres[here, i] + metres[i, j]
                        here = j
                    if order:
                        seconds += secs[here, dep]
                        total_m += metres[here, dep]
                    routes.append((order, seconds))
                yield routes, int(total_m)

    def disjoint_sets(start: int, used: frozenset, chosen: list):
        for p in range(start, len(pairs)):
            i, j = pairs[p]
            if i not in used and j not in used:
                yield [*chosen, pairs[p]]
                yield from disjoint_sets(p + 1, used | {i, j}, [*chosen, pairs[p]])

    for moves in disjoint_sets(0, frozenset(), []):
        plans = list(routings(moves))
        for ks in product(*(bike_options[m] for m in moves)):
            if max_bikes is not None and sum(ks) > max_bikes:
                continue
            after = b.copy()
            for (i, j), k in zip(moves, ks, strict=True):
                after[i] -= k
                after[j] += k
            count = int(worth[in_interval(after, low, high)].sum())
            if count < best[0]:
                continue
            for routes, total_m in plans:
                if all(seconds + bike_s * sum(ks[m] for m in order) <= budget for order, seconds in routes):
                    best = max(best, (count, -total_m))
    return best[0], -best[1]


def check_plan(plan: Plan, stations: dict, fleet: Fleet) -> None:
    """Every invariant the hourly step and the crews rely on, recomputed from the moves alone."""
    ids = list(stations["station_ids"])
    b, cap = np.asarray(stations["bikes"]), np.asarray(stations["capacity"])
    low, high = np.asarray(stations["target_low"]), np.asarray(stations["target_high"])
    inside = in_interval(b, low, high)
    index = {s: i for i, s in enumerate(ids)}
    budget, stop_s, bike_s = fleet_seconds(fleet)
    metres = leg_metres(stations["lat"], stations["lon"], depot_of(stations, fleet))
    secs = leg_seconds(metres, fleet)
    dep = len(ids)
    touched = [s for m in plan.moves for s in (m.from_station, m.to_station)]
    assert len(touched) == len(set(touched)), "a station visited twice"
    assert all(1 <= m.bikes <= fleet.truck_capacity for m in plan.moves), "a truck over capacity"
    events, total_m, minutes = [], 0, []
    for truck in range(1, fleet.trucks + 1):
        route = [m for m in plan.moves if m.truck == truck]
        assert [m.order for m in route] == list(range(1, len(route) + 1)), "orders not 1, 2, ... per truck"
        here, seconds = dep, 0
        for m in route:
            i, j = index[m.from_station], index[m.to_station]
            seconds += secs[here, i] + stop_s + bike_s * m.bikes / 2
            events.append((seconds, i, -m.bikes))
            seconds += secs[i, j] + stop_s + bike_s * m.bikes / 2
            events.append((seconds, j, m.bikes))
            total_m += metres[here, i] + metres[i, j]
            here = j
        if route:
            seconds += secs[here, dep]
            total_m += metres[here, dep]
        assert seconds <= budget, f"truck {truck} over its hour: {seconds} s"
        minutes.append(seconds / 60)
    assert all(1 <= m.truck <= fleet.trucks for m in plan.moves)
    counts = b.copy()
    for _, s, change in sorted(events):
        counts[s] += change
        assert 0 <= counts[s] <= cap[s], "a count outside [0, capacity]"
        assert not inside[s] or low[s] <= counts[s] <= high[s], "a station inside pushed outside"
    after = apply_moves(b, ids, plan.moves)
    assert np.array_equal(after, counts)
    assert plan.in_interval_before == int(inside.sum())
    assert plan.in_interval_after == int(in_interval(after, low, high).sum()) >= plan.in_interval_before
    assert plan.bikes_moved == sum(m.bikes for m in plan.moves)
    assert plan.km == pytest.approx(total_m / 1000)
    assert plan.truck_minutes == pytest.approx(tuple(minutes))


BRUTE_FORCE_CASES = [(seed, 1) for seed in range(40)] + [(seed, 2) for seed in range(100, 120)]


@pytest.mark.parametrize(("seed", "trucks"), BRUTE_FORCE_CASES)
def test_the_plan_is_the_brute_force_optimum(seed: int, trucks: int) -> None:
    stations, fleet = small_case(seed, trucks)
    plan = plan_moves(**stations, fleet=fleet)
    check_plan(plan, stations, fleet)
    count, metres = brute_force(stations, fleet)
    assert plan.status in ("OPTIMAL", "ALL_INSIDE", "NO_CANDIDATES")
    assert not plan.pruned
    assert (plan.in_interval_after, round(plan.km * 1000)) == (count, metres)


def case_priority(seed: int, n: int) -> np.ndarray:
    """Integer priorities 1..4 with a 4 among them: their prizes (x 250) keep the brute force's sums exact."""
    worth = np.random.default_rng(seed + 1000).integers(1, 5, n)
    worth[seed % n] = 4
    return worth


@pytest.mark.parametrize(("seed", "trucks"), BRUTE_FORCE_CASES[::2])
def test_the_plan_with_priorities_is_the_brute_force_optimum(seed: int, trucks: int) -> None:
    """Stations weighted by priority (the product's failure exposure): still the optimum."""
    stations, fleet = small_case(seed, trucks)
    worth = case_priority(seed, len(stations["bikes"]))
    plan = plan_moves(**stations, fleet=fleet, priority=worth)
    check_plan(plan, stations, fleet)
    after = in_interval(
        apply_moves(stations["bikes"], stations["station_ids"], plan.moves),
        *(np.asarray(stations[k]) for k in ("target_low", "target_high")),
    )
    assert plan.status in ("OPTIMAL", "ALL_INSIDE", "NO_CANDIDATES")
    assert (int(worth[after].sum()), round(plan.km * 1000)) == brute_force(stations, fleet, worth)


@pytest.mark.parametrize(("seed", "trucks"), BRUTE_FORCE_CASES[1::3])
def test_the_plan_within_a_bike_budget_is_the_brute_force_optimum(seed: int, trucks: int) -> None:
    """A cap on the hour's bikes (all trucks): at most that many, and still the optimum under it."""
    stations, fleet = small_case(seed, trucks)
    worth = case_priority(seed, len(stations["bikes"]))
    free = plan_moves(**stations, fleet=fleet, priority=worth)
    cap = max(0, free.bikes_moved - 2)
    plan = plan_moves(**stations, fleet=fleet, priority=worth, max_bikes=cap)
    check_plan(plan, stations, fleet)
    assert plan.bikes_moved <= cap
    after = in_interval(
        apply_moves(stations["bikes"], stations["station_ids"], plan.moves),
        *(np.asarray(stations[k]) for k in ("target_low", "target_high")),
    )
    assert plan.status in ("OPTIMAL", "ALL_INSIDE", "NO_CANDIDATES")
    assert (int(worth[after].sum()), round(plan.km * 1000)) == brute_force(stations, fleet, worth, cap)


def test_priorities_change_plans_among_the_brute_force_cases() -> None:
    changed = 0
    for seed, trucks in BRUTE_FORCE_CASES[::2]:
        stations, fleet = small_case(seed, trucks)
        worth = case_priority(seed, len(stations["bikes"]))
        changed += (
            plan_moves(**stations, fleet=fleet).moves != plan_moves(**stations, fleet=fleet, priority=worth).moves
        )
    assert changed >= 3


def test_priorities_send_the_truck_to_the_urgent_station() -> None:
    """One truck, time for one move: of two stations below their interval it fills the one with the higher
    priority, though the other is nearer."""
    stations = {
        "station_ids": ["full", "near", "far"],
        "lat": [LAT, LAT + 0.001, LAT + 0.004],
        "lon": [LON, LON, LON],
        "bikes": [10, 0, 0],
        "capacity": [10, 10, 10],
        "target_low": [2, 3, 3],
        "target_high": [8, 8, 8],
    }
    fleet = Fleet(trucks=1, truck_capacity=3, minutes_per_hour=16, depot=(LAT, LON))
    assert [m.to_station for m in plan_moves(**stations, fleet=fleet).moves] == ["near"]
    urgent = plan_moves(**stations, fleet=fleet, priority=[1.0, 0.2, 3.0])
    assert [m.to_station for m in urgent.moves] == ["far"]
    with pytest.raises(ValueError, match="priority"):
        plan_moves(**stations, fleet=fleet, priority=[1.0, -1.0, 1.0])


def test_station_prizes_scale_to_the_largest() -> None:
    assert station_prizes([0.5, 2.0, 0.0]).tolist() == [250, 1000, 1]
    assert station_prizes([0.0, 0.0]).tolist() == [1, 1]


def test_the_brute_force_cases_are_not_trivial() -> None:
    """The seeds above exercise the solver: most need moves, many several per truck, some both trucks."""
    plans = [plan_moves(**s, fleet=f) for s, f in (small_case(seed, trucks) for seed, trucks in BRUTE_FORCE_CASES)]
    assert sum(p.in_interval_after > p.in_interval_before for p in plans) >= 45
    assert sum(max((m.order for m in p.moves), default=0) >= 3 for p in plans) >= 5
    assert sum({m.truck for m in p.moves} == {1, 2} for p in plans) >= 5


def test_brute_force_on_only_surplus_and_only_deficit() -> None:
    surplus = {
        "station_ids": ["a", "b", "c", "d", "e"],
        "lat": LAT + np.array([0.0, 0.002, 0.004, -0.003, 0.001]),
        "lon": LON + np.array([0.0, 0.003, -0.002, 0.001, -0.004]),
        "bikes": np.array([7, 6, 2, 3, 8]),
        "capacity": np.array([8, 8, 8, 8, 8]),
        "target_low": np.array([2, 2, 2, 2, 2]),
        "target_high": np.array([5, 5, 6, 6, 5]),
    }
    deficit = {**surplus, "bikes": np.array([0, 1, 3, 4, 1]), "target_low": np.array([2, 3, 2, 2, 3])}
    for stations in (surplus, deficit):
        fleet = Fleet(trucks=1, truck_capacity=3, minutes_per_hour=45)
        plan = plan_moves(**stations, fleet=fleet)
        check_plan(plan, stations, fleet)
        assert plan.moves
        assert plan.status == "OPTIMAL"
        assert (plan.in_interval_after, round(plan.km * 1000)) == brute_force(stations, fleet)


def random_stations(draw, n: int) -> dict:
    cap = np.array(draw(st.lists(st.integers(1, 30), min_size=n, max_size=n)))
    low = np.array([draw(st.integers(0, c)) for c in cap])
    high = np.array([draw(st.integers(lo, c)) for lo, c in zip(low, cap, strict=True)])
    return {
        "station_ids": [f"st{i}" for i in range(n)],
        "lat": LAT + np.array(draw(st.lists(st.floats(-0.02, 0.02), min_size=n, max_size=n))),
        "lon": LON + np.array(draw(st.lists(st.floats(-0.03, 0.03), min_size=n, max_size=n))),
        "bikes": np.array([draw(st.integers(0, c)) for c in cap]),
        "capacity": cap,
        "target_low": low,
        "target_high": high,
    }


@st.composite
def cases(draw) -> tuple[dict, Fleet]:
    stations = random_stations(draw, draw(st.integers(1, 16)))
    fleet = Fleet(
        trucks=draw(st.integers(0, 3)),
        truck_capacity=draw(st.integers(0, 20)),
        minutes_per_hour=draw(st.sampled_from([0.0, 15.0, 30.0, 60.0, 90.0])),
        speed_kmh=draw(st.sampled_from([10.0, 20.0, 40.0])),
        minutes_per_stop=draw(st.sampled_from([0.0, 2.0, 5.0])),
        minutes_per_bike=draw(st.sampled_from([0.0, 0.5, 1.0])),
    )
    return stations, fleet


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_invariants_and_determinism_on_random_cases(case: tuple[dict, Fleet]) -> None:
    stations, fleet = case
    plan = plan_moves(**stations, fleet=fleet, time_limit_s=0.5)
    check_plan(plan, stations, fleet)
    assert len(plan.truck_minutes) == fleet.trucks
    if not plan.wall_clock_stop:
        assert plan_moves(**stations, fleet=fleet, time_limit_s=0.5) == plan


def synthetic_city(n: int, seed: int = 0) -> dict:
    """As the benchmark: ~10 km across, capacities 10-60, about a quarter outside."""
    rng = np.random.default_rng(seed)
    cap = rng.integers(10, 61, n)
    low = (cap * rng.uniform(0.15, 0.35, n)).astype(int)
    high = np.maximum(low, np.ceil(cap * rng.uniform(0.6, 0.85, n)).astype(int))
    bikes = rng.integers(low, high + 1)
    for i in np.flatnonzero(rng.random(n) < 0.25):
        bikes[i] = rng.integers(high[i] + 1, cap[i] + 1) if high[i] < cap[i] and rng.random() < 0.5 else 0
    return {
        "station_ids": [f"S{i:04d}" for i in range(n)],
        "lat": LAT + rng.uniform(-0.045, 0.045, n),
        "lon": LON + rng.uniform(-0.06, 0.06, n),
        "bikes": bikes,
        "capacity": cap,
        "target_low": low,
        "target_high": high,
    }


def test_a_large_fleet_is_pruned_and_still_valid_and_repeatable() -> None:
    stations, fleet = synthetic_city(300), Fleet()
    plan = plan_moves(**stations, fleet=fleet, time_limit_s=1.0)
    check_plan(plan, stations, fleet)
    assert plan.pruned
    assert plan.status in ("OPTIMAL", "FEASIBLE")
    assert plan.in_interval_after >= plan.in_interval_before + 4
    if not plan.wall_clock_stop:
        assert plan_moves(**stations, fleet=fleet, time_limit_s=1.0) == plan


def two_stations(**changes) -> dict:
    """A full station and an empty one 500 m apart: one move of 10 bikes fixes both."""
    stations = {
        "station_ids": ["full", "empty"],
        "lat": [LAT, LAT + 0.0045],
        "lon": [LON, LON],
        "bikes": [20, 0],
        "capacity": [20, 20],
        "target_low": [5, 5],
        "target_high": [10, 15],
    }
    return {**stations, **changes}


def test_one_move_fixes_both_with_the_fewest_bikes() -> None:
    plan = plan_moves(**two_stations())
    assert plan.moves == [Move("full", "empty", 10, 1, 1)]
    assert (plan.in_interval_before, plan.in_interval_after, plan.status) == (0, 2, "OPTIMAL")
    assert plan.truck_minutes[1] == 0.0


def test_no_moves_when_every_station_is_inside() -> None:
    plan = plan_moves(**two_stations(bikes=[7, 7]))
    assert (plan.moves, plan.status, plan.in_interval_after) == ([], "ALL_INSIDE", 2)


@pytest.mark.parametrize(
    "fleet",
    [Fleet(trucks=0), Fleet(truck_capacity=0), Fleet(minutes_per_hour=0), Fleet(minutes_per_hour=9)],
    ids=["no trucks", "no capacity", "no time", "less than two stops"],
)
def test_no_moves_without_a_fleet(fleet: Fleet) -> None:
    plan = plan_moves(**two_stations(), fleet=fleet)
    assert (plan.moves, plan.status, plan.in_interval_after, plan.km) == ([], "NO_FLEET", 0, 0.0)


def test_no_moves_when_no_move_fits_the_hour() -> None:
    far = two_stations(lat=[LAT, LAT + 0.2])  # 22 km apart: 67 min of driving at 20 km/h
    assert plan_moves(**far).status == "NO_CANDIDATES"
    everyone_full = two_stations(bikes=[20, 20])  # nowhere to put a bike
    assert plan_moves(**everyone_full).status == "NO_CANDIDATES"


def test_only_surplus_goes_to_stations_with_room_without_breaking_them() -> None:
    stations = two_stations(bikes=[20, 8], target_high=[10, 12])  # "empty" is inside with room for 4
    plan = plan_moves(**stations)
    assert plan.moves == []  # 4 bikes cannot bring "full" from 20 down to 10
    stations = two_stations(bikes=[13, 8], target_high=[10, 12])
    assert plan_moves(**stations).moves == [Move("full", "empty", 3, 1, 1)]


def test_invalid_stations_are_left_out() -> None:
    stations = {
        "station_ids": ["full", "empty", "nan", "masked", "bad"],
        "lat": [LAT, LAT + 0.0045, np.nan, LAT + 0.001, LAT],
        "lon": [LON, LON, LON, LON, LON + 0.001],
        "bikes": [20, 0, 0, 0, 0],
        "capacity": [20, 20, 20, 20, 20],
        "target_low": [5, 5, 5, 5, 9],
        "target_high": [10, 15, 15, 15, 8],  # "bad": low > high
    }
    plan = plan_moves(**stations, valid=[True, True, True, False, True])
    assert (plan.stations, plan.excluded) == (2, 3)
    assert {m.to_station for m in plan.moves} == {"empty"}


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="unique"):
        plan_moves(**two_stations(station_ids=["a", "a"]))
    with pytest.raises(ValueError, match="one value per station"):
        plan_moves(**two_stations(bikes=[1, 2, 3]))
    with pytest.raises(ValueError, match="speed_kmh"):
        Fleet(speed_kmh=0)
    with pytest.raises(ValueError, match=">= 0"):
        Fleet(trucks=-1)


def test_apply_moves_and_distances() -> None:
    moves = [Move("a", "b", 3, 1, 1), Move("c", "a", 2, 2, 1)]
    assert apply_moves(np.array([5, 0, 4]), ["a", "b", "c"], moves).tolist() == [4, 3, 2]
    assert haversine_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(111_195, abs=1)
    assert leg_seconds(np.array([0, 1000, 1001]), Fleet(speed_kmh=36)).tolist() == [0, 100, 101]
