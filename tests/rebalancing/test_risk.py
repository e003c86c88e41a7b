"""Empty/full risk and the target interval (include/rebalancing/risk.py): exact against an independent
``expm`` of the generator, against Monte-Carlo, against closed forms, and on bad inputs. Pure: no stack."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.linalg import expm

from include.rebalancing.risk import (
    RiskConfig,
    StationRisk,
    failure_exposure,
    hitting_probabilities,
    simulate,
    station_risk,
)

rates3 = st.lists(st.floats(0.0, 30.0), min_size=3, max_size=3)
capacities = st.integers(1, 60)


def reference(capacity: int, pickup: list[float], dropoff: list[float], hours: int) -> tuple[np.ndarray, np.ndarray]:
    """The textbook way, one dense generator and ``scipy.linalg.expm`` per hour, time-ordered product."""
    out = []
    for absorbing in (0, capacity):
        product = np.eye(capacity + 1)
        for h in range(hours):
            q = np.zeros((capacity + 1, capacity + 1))
            for b in range(capacity + 1):
                if b != absorbing:
                    if b > 0:
                        q[b, b - 1] = pickup[h]
                    if b < capacity:
                        q[b, b + 1] = dropoff[h]
                    q[b, b] = -q[b].sum()
            product = product @ expm(q)
        out.append(product[:, absorbing])
    return out[0], out[1]


@settings(max_examples=60, deadline=None)
@given(capacities, rates3, rates3, st.integers(1, 3))
def test_matches_dense_expm(capacity: int, pickup: list[float], dropoff: list[float], hours: int) -> None:
    empty, full = hitting_probabilities(capacity, pickup, dropoff, hours)
    ref_empty, ref_full = reference(capacity, pickup, dropoff, hours)
    assert empty.shape == full.shape == (capacity + 1,)
    np.testing.assert_allclose(empty, ref_empty, atol=1e-10)
    np.testing.assert_allclose(full, ref_full, atol=1e-10)


def test_agrees_with_monte_carlo() -> None:
    """40k Gillespie runs: standard error ≤ 0.0025, so 0.01 is four of them."""
    rng = np.random.default_rng(22)
    uncertain = 0
    for _ in range(12):
        capacity = int(rng.integers(5, 40))
        pickup, dropoff = rng.uniform(0, 20, 3), rng.uniform(0, 20, 3)
        bikes = int(rng.integers(0, capacity + 1))
        for hours in (1, 3):
            empty, full = hitting_probabilities(capacity, pickup, dropoff, hours)
            mc_empty, mc_full = simulate(capacity, bikes, pickup, dropoff, hours, 40_000, rng)
            case = (capacity, bikes, pickup, dropoff, hours)
            assert abs(empty[bikes] - mc_empty) < 0.01, case
            assert abs(full[bikes] - mc_full) < 0.01, case
            uncertain += (0.05 < empty[bikes] < 0.95) + (0.05 < full[bikes] < 0.95)
    assert uncertain >= 10  # the cases test the middle, not only certain outcomes


@settings(max_examples=50, deadline=None)
@given(capacities, st.lists(st.floats(0.0, 30.0), min_size=3, max_size=3), st.integers(1, 3))
def test_pure_death_is_a_poisson_tail(capacity: int, pickup: list[float], hours: int) -> None:
    """No returns: the station empties from ``b`` iff at least ``b`` pickups come, Poisson(Σ λp)."""
    empty, full = hitting_probabilities(capacity, pickup, [0.0] * 3, hours)
    b = np.arange(capacity + 1)
    np.testing.assert_allclose(empty, stats.poisson.sf(b - 1, sum(pickup[:hours])), atol=1e-12)
    np.testing.assert_array_equal(full, (b == capacity).astype(float))


@settings(max_examples=50, deadline=None)
@given(capacities, rates3, rates3, st.integers(1, 3))
def test_mirror_symmetry(capacity: int, pickup: list[float], dropoff: list[float], hours: int) -> None:
    """Swapping pickups and returns mirrors the dock: empty from b is full from capacity - b."""
    empty, full = hitting_probabilities(capacity, pickup, dropoff, hours)
    swapped_empty, swapped_full = hitting_probabilities(capacity, dropoff, pickup, hours)
    np.testing.assert_allclose(empty, swapped_full[::-1], atol=1e-12)
    np.testing.assert_allclose(full, swapped_empty[::-1], atol=1e-12)
    if pickup == dropoff:
        np.testing.assert_allclose(empty, full[::-1], atol=1e-12)


@settings(max_examples=80, deadline=None)
@given(capacities, rates3, rates3)
def test_monotone_bounded_and_certain_at_the_ends(capacity: int, pickup: list[float], dropoff: list[float]) -> None:
    e1, f1 = hitting_probabilities(capacity, pickup, dropoff, 1)
    e3, f3 = hitting_probabilities(capacity, pickup, dropoff, 3)
    for p in (e1, f1, e3, f3):
        assert np.all((p >= 0) & (p <= 1))
        assert p[0] == 1.0 or p[-1] == 1.0
    assert e3[0] == e1[0] == 1.0
    assert f3[-1] == f1[-1] == 1.0
    assert np.all(np.diff(e3) <= 0)
    assert np.all(np.diff(f3) >= 0)
    assert np.all(e3 >= e1 - 1e-12)  # a longer window can only add hits
    assert np.all(f3 >= f1 - 1e-12)


def test_the_order_of_the_hours_matters() -> None:
    late, _ = hitting_probabilities(10, [0, 0, 10], [0, 0, 0], 3)
    early, _ = hitting_probabilities(10, [10, 0, 0], [0, 0, 0], 3)
    np.testing.assert_allclose(late, early, atol=1e-12)  # 10 pickups in 3 h either way
    late_1h, _ = hitting_probabilities(10, [0, 0, 10], [0, 0, 0], 1)
    early_1h, _ = hitting_probabilities(10, [10, 0, 0], [0, 0, 0], 1)
    assert late_1h[5] == 0.0
    assert early_1h[5] == pytest.approx(stats.poisson.sf(4, 10))
    # With returns, it matters over 3 h too: returns first refill before the rush, returns after come late.
    refill_first, _ = hitting_probabilities(10, [0, 10, 0], [10, 0, 0], 3)
    refill_late, _ = hitting_probabilities(10, [0, 10, 0], [0, 0, 10], 3)
    assert refill_first[3] < refill_late[3] - 0.1


def test_no_rates_no_risk() -> None:
    empty, full = hitting_probabilities(5, [0, 0, 0], [-1, 0, 0], 3)  # negative counts as 0
    np.testing.assert_array_equal(empty, [1, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(full, [0, 0, 0, 0, 0, 1])


# -- the fleet: station_risk -------------------------------------------------------------------------------

fleets = st.integers(1, 12).flatmap(
    lambda n: st.tuples(
        st.lists(capacities, min_size=n, max_size=n),
        st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n),
        st.lists(rates3, min_size=n, max_size=n),
        st.lists(rates3, min_size=n, max_size=n),
    )
)


def fleet_arrays(fleet: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    caps, share, pickup, dropoff = fleet
    caps = np.array(caps)
    bikes = np.round(np.array(share) * caps).astype(int)
    return bikes, caps, np.array(pickup, dtype=float).reshape(-1, 3), np.array(dropoff, dtype=float).reshape(-1, 3)


@settings(max_examples=80, deadline=None)
@given(fleets, st.sampled_from([0.01, 0.05, 0.10, 0.25]))
def test_target_interval(fleet: tuple, alpha: float) -> None:
    """Inside: both risks ≤ alpha; each neighbour outside breaks one. Unreachable: the best count, no better one."""
    bikes, caps, pickup, dropoff = fleet_arrays(fleet)
    risk = station_risk(bikes, caps, pickup, dropoff, RiskConfig(service_level=alpha))
    assert risk.valid.all()
    for i, c in enumerate(caps):
        empty, full = hitting_probabilities(int(c), pickup[i], dropoff[i], 3)
        e1, f1 = hitting_probabilities(int(c), pickup[i], dropoff[i], 1)
        assert risk.p_empty_3h[i] == pytest.approx(empty[bikes[i]], abs=1e-12)
        assert risk.p_full_3h[i] == pytest.approx(full[bikes[i]], abs=1e-12)
        assert risk.p_empty_1h[i] == pytest.approx(e1[bikes[i]], abs=1e-12)
        assert risk.p_full_1h[i] == pytest.approx(f1[bikes[i]], abs=1e-12)
        low, high = int(risk.target_low[i]), int(risk.target_high[i])
        assert 0 <= low <= high <= c
        ok = (empty <= alpha) & (full <= alpha)
        if risk.reachable[i]:
            assert ok[low : high + 1].all()
            assert not ok[low - 1]  # b = 0 is never ok (p_empty = 1), so low - 1 exists
            assert not ok[high + 1]
        else:
            assert low == high
            assert not ok.any()
            worse = np.maximum(empty, full)
            assert worse[low] <= worse.min() + 1e-12


def test_unreachable_station() -> None:
    """5 docks, 20 pickups and 20 returns an hour: every count empties or fills within 3 h; the middle is best."""
    risk = station_risk([2, 0], [5, 1], [[20, 20, 20], [1, 1, 1]], [[20, 20, 20], [1, 1, 1]])
    np.testing.assert_array_equal(risk.reachable, [False, False])
    assert (risk.target_low[0], risk.target_high[0]) == (2, 2)  # 2 and 3 tie by symmetry: nearest 2.5, lower
    assert (risk.target_low[1], risk.target_high[1]) == (0, 0)  # one dock: both ends are certain, a tie
    assert risk.p_empty_3h[1] == 1.0


def test_reachable_example_and_service_level() -> None:
    """30 docks, 6 pickups and 2 returns an hour: the safe counts sit high; a laxer alpha widens the interval."""
    args = ([15], [30], [[6, 6, 6]], [[2, 2, 2]])
    strict, lax = station_risk(*args, RiskConfig(service_level=0.01)), station_risk(*args, RiskConfig(0.25))
    assert strict.reachable[0]
    assert lax.reachable[0]
    assert 15 < lax.target_low[0] <= strict.target_low[0] <= strict.target_high[0] <= lax.target_high[0] < 30
    assert strict.p_empty_3h[0] == lax.p_empty_3h[0] > 0.25  # 15 bikes: too few at either level
    empty, _ = hitting_probabilities(30, [6, 6, 6], [2, 2, 2], 3)
    assert empty[strict.target_low[0]] <= 0.01 < empty[strict.target_low[0] - 1]


@settings(max_examples=40, deadline=None)
@given(fleets, st.randoms(use_true_random=False))
def test_order_and_duplicates(fleet: tuple, random) -> None:
    """Results follow the input order; a station repeated (computed once) gets the same answers."""
    bikes, caps, pickup, dropoff = fleet_arrays(fleet)
    perm = np.array([*random.sample(range(len(caps)), len(caps)), 0, 0])  # and station 0 twice more
    whole = station_risk(bikes, caps, pickup, dropoff)
    shuffled = station_risk(bikes[perm], caps[perm], pickup[perm], dropoff[perm])
    for name in ("p_empty_1h", "p_empty_3h", "p_full_1h", "p_full_3h", "target_low", "target_high", "reachable"):
        np.testing.assert_array_equal(getattr(shuffled, name), getattr(whole, name)[perm], err_msg=name)


def test_more_horizons() -> None:
    """Extra horizons come in ``*_by_hours``; the target is set at the longest."""
    rates = ([[3, 3, 3, 3]], [[2, 2, 2, 2]])
    risk = station_risk([20], [40], *rates, RiskConfig(horizons_hours=(1, 2, 3, 4)))
    e = risk.p_empty_by_hours
    assert e[1][0] < e[2][0] < e[3][0] < e[4][0]
    assert e[1][0] == risk.p_empty_1h[0]
    assert e[3][0] == risk.p_empty_3h[0]
    assert set(risk.p_full_by_hours) == {1, 2, 3, 4}
    empty, full = hitting_probabilities(40, [3] * 4, [2] * 4, 4)
    ok = np.flatnonzero((empty <= 0.1) & (full <= 0.1))
    assert (risk.target_low[0], risk.target_high[0]) == (ok[0], ok[-1])
    three = station_risk([20], [40], *rates)
    assert (three.target_low[0], three.target_high[0]) != (ok[0], ok[-1])


def test_empty_fleet() -> None:
    risk = station_risk([], [], np.zeros((0, 3)), np.zeros((0, 3)))
    assert isinstance(risk, StationRisk)
    assert risk.p_empty_3h.shape == risk.target_low.shape == risk.valid.shape == (0,)


# -- bad inputs ------------------------------------------------------------------------------------------------


def test_stations_without_capacity_are_invalid_not_fatal() -> None:
    """Capacity 0, negative or missing: NaN risks, targets -1, not reachable; bikes and rates left unchecked."""
    pickup = [[3, 3, 3], [np.nan] * 3, [3, 3, 3], [3, 3, 3], [1, 2, 3]]
    dropoff = [[2, 2, 2], [np.nan] * 3, [2, 2, 2], [2, 2, 2], [3, 2, 1]]
    risk = station_risk([5, 7, 0, 99, 10], [20, 0, -3, None, 25], pickup, dropoff)
    np.testing.assert_array_equal(risk.valid, [True, False, False, False, True])
    bad = ~risk.valid
    for p in (risk.p_empty_1h, risk.p_empty_3h, risk.p_full_1h, risk.p_full_3h):
        assert np.isnan(p[bad]).all()
        assert np.isfinite(p[~bad]).all()
    assert (risk.target_low[bad] == -1).all()
    assert (risk.target_high[bad] == -1).all()
    assert not risk.reachable[bad].any()
    alone = station_risk([5, 10], [20, 25], [pickup[0], pickup[4]], [dropoff[0], dropoff[4]])
    np.testing.assert_array_equal(risk.p_empty_3h[~bad], alone.p_empty_3h)
    np.testing.assert_array_equal(risk.target_low[~bad], alone.target_low)


@pytest.mark.parametrize(
    ("bikes", "capacity", "message"),
    [
        ([5, 21], [20, 20], r"bikes not in 0..capacity at station index 1"),
        ([-1, 3], [20, 20], r"bikes not in 0..capacity at station index 0"),
        ([5, np.nan], [20, 20], r"bikes not in 0..capacity at station index 1"),
        ([5, 2.5], [20, 20], r"bikes not in 0..capacity at station index 1"),
        ([5, 5], [20, 19.5], r"capacity is not an integer at station index 1"),
    ],
)
def test_bad_bikes_or_capacity_raise(bikes: list[float], capacity: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        station_risk(bikes, capacity, np.ones((2, 3)), np.ones((2, 3)))


def test_bad_rates_raise_or_clip() -> None:
    with pytest.raises(ValueError, match=r"pickup_rates: NaN or infinite rate at station index 2"):
        station_risk([1, 1, 1], [5, 5, 5], [[1, 1, 1], [1, 1, 1], [1, np.nan, 1]], np.ones((3, 3)))
    with pytest.raises(ValueError, match=r"dropoff_rates: NaN or infinite rate at station index 0"):
        station_risk([1, 1, 1], [5, 5, 5], np.ones((3, 3)), [[np.inf, 1, 1], [1, 1, 1], [1, 1, 1]])
    clipped = station_risk([2], [5], [[-0.3, 2, 2]], [[1, -5, 1]])
    zeroed = station_risk([2], [5], [[0, 2, 2]], [[1, 0, 1]])
    assert clipped.p_empty_3h[0] == zeroed.p_empty_3h[0]
    with pytest.raises(ValueError, match=r"shape \(2, ≥3\)"):
        station_risk([1, 1], [5, 5], np.ones((2, 2)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="same length"):
        station_risk([1, 1], [5, 5, 5], np.ones((3, 3)), np.ones((3, 3)))


@pytest.mark.parametrize(
    ("capacity", "pickup", "hours", "message"),
    [
        (0, [1, 1, 1], 3, "capacity must be a positive integer"),
        (np.nan, [1, 1, 1], 3, "capacity must be a positive integer"),
        (4.5, [1, 1, 1], 3, "capacity must be a positive integer"),
        (5, [1, 1, 1], 0, r"hours must be in 1\.\.3"),
        (5, [1, 1, 1], 4, r"hours must be in 1\.\.3"),
        (5, [1, np.nan, 1], 1, "pickup_rates: NaN or infinite rate"),
    ],
)
def test_hitting_probabilities_bad_inputs(capacity: float, pickup: list[float], hours: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hitting_probabilities(capacity, pickup, [1, 1, 1], hours)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"service_level": 0.0},
        {"service_level": 1.0},
        {"horizons_hours": (3, 1)},
        {"horizons_hours": (1, 1, 3)},
        {"horizons_hours": (1, 2)},
        {"horizons_hours": (0, 1, 3)},
    ],
)
def test_bad_config(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=r"service_level|horizons_hours"):
        RiskConfig(**kwargs)


def test_failure_exposure_ranks_busy_stations_and_skips_invalid_ones() -> None:
    """The plan's priority: a full station with many returns coming outranks a full one with few, an empty
    one counts its pickups, and a station without a capacity counts nothing."""
    bikes, capacity = np.array([10, 10, 0, 0]), np.array([10, 10, 10, np.nan])
    pickups = np.array([[0.5] * 3, [0.5] * 3, [4.0] * 3, [4.0] * 3])
    dropoffs = np.array([[6.0] * 3, [1.0] * 3, [0.5] * 3, [0.5] * 3])
    risk = station_risk(bikes, capacity, pickups, dropoffs)
    exposure = failure_exposure(risk, pickups, dropoffs)
    assert exposure[0] > exposure[1] > 0
    assert exposure[2] == pytest.approx(risk.p_empty_3h[2] * 12.0 + risk.p_full_3h[2] * 1.5)
    assert exposure[3] == 0.0
