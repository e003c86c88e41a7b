"""The risk of a station running empty or full in the next hours, and the bike count that keeps it safe.

A station is a continuous-time birth-death chain on ``0..capacity`` bikes: pickups at rate ``λp(t)``
while it holds a bike, returns at rate ``λd(t)`` while it has a free dock (a pickup at 0 or a return at
``capacity`` fails; that is the service we want to protect). The rates are the forecast's expected
pickups and dropoffs per hour, piecewise constant: column ``h`` holds hour ``[T+h, T+h+1)``.

``p_empty`` within ``t`` hours is the probability that the count touches 0 at some time in ``[0, t]``: the
chain with 0 made absorbing, started at ``b``, is in 0 at ``t``. ``p_full`` likewise with ``capacity``
absorbing. Both are exact (uniformisation, truncated where the Poisson tail is below 1e-14), not a normal
approximation: a 20-dock station with 8 pickups an hour is far from normal, and the tails are the point.

Computed backward, for every starting count at once: with ``E_h = exp(Q_h)`` the chain's transition matrix
over hour ``h``, ``P(absorbed by t | start b) = (E_1 E_2 … E_t e_abs)[b]``, so the vector ``e_abs`` is
carried through ``E_t``, then ``E_{t-1}``, … ``E_1``. Every ``b`` is needed anyway for the target interval:
the bike counts whose risks both stay within the service level over the longest horizon.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

TAIL = 1e-14  # uniformisation's truncation: the Poisson mass left out of each hour's series
TIE = 1e-12  # risks this close count as equal when choosing an unreachable station's best count
CHUNK = 256  # stations carried through the series together (sorted by capacity: little padding)


@dataclass(frozen=True)
class RiskConfig:
    """``service_level``: the largest acceptable ``p_empty`` and ``p_full`` over the longest horizon (the
    target interval's condition). ``horizons_hours``: the windows computed; 1 and 3 are required because
    :class:`StationRisk` names them, others (up to the forecast's hours) land in its ``*_by_hours``."""

    service_level: float = 0.10
    horizons_hours: tuple[int, ...] = (1, 3)

    def __post_init__(self) -> None:
        if not 0.0 < self.service_level < 1.0:
            raise ValueError(f"service_level must be in (0, 1), got {self.service_level!r}")
        hours = self.horizons_hours
        if not all(isinstance(h, int | np.integer) and h >= 1 for h in hours) or list(hours) != sorted(set(hours)):
            raise ValueError(f"horizons_hours must be increasing positive integers, got {hours!r}")
        if not {1, 3} <= set(hours):
            raise ValueError(f"horizons_hours must include 1 and 3 (StationRisk's fields), got {hours!r}")


@dataclass(frozen=True)
class StationRisk:
    """One entry per station, in input order.

    ``target_low``/``target_high``: the interval of bike counts with both risks ``≤ service_level`` over the
    longest horizon; when none qualifies (``reachable`` False) both are the count with the smallest worse
    risk. ``valid`` False (capacity missing or ≤ 0): risks NaN, targets -1, ``reachable`` False; the
    planner must skip these stations."""

    p_empty_1h: np.ndarray
    p_empty_3h: np.ndarray
    p_full_1h: np.ndarray
    p_full_3h: np.ndarray
    target_low: np.ndarray
    target_high: np.ndarray
    reachable: np.ndarray
    valid: np.ndarray
    p_empty_by_hours: dict[int, np.ndarray] = field(default_factory=dict)
    p_full_by_hours: dict[int, np.ndarray] = field(default_factory=dict)


def hitting_probabilities(
    capacity: int, pickup_rates: Sequence[float], dropoff_rates: Sequence[float], hours: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(p_empty, p_full)``, each of length ``capacity + 1``: for every starting count ``b``, the probability
    of touching 0 (resp. ``capacity``) within the first ``hours`` hours; 1.0 at ``b = 0`` (resp. ``capacity``).

    Raises ValueError for ``capacity < 1`` (no chain to speak of: :func:`station_risk` marks such stations
    invalid instead), ``hours`` outside ``1..len(rates)``, or a NaN/infinite rate; negative rates count as 0
    (a regression forecast can dip below zero, a rate cannot)."""
    if not (np.isfinite(capacity) and capacity >= 1 and int(capacity) == capacity):
        raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
    pickup = _rates(np.asarray(pickup_rates, dtype=float)[None, :], "pickup_rates")
    dropoff = _rates(np.asarray(dropoff_rates, dtype=float)[None, :], "dropoff_rates")
    if pickup.shape != dropoff.shape:
        raise ValueError(f"pickup and dropoff rates differ in length: {pickup.shape[1]} vs {dropoff.shape[1]}")
    if int(hours) != hours or not 1 <= hours <= pickup.shape[1]:
        raise ValueError(f"hours must be in 1..{pickup.shape[1]} (the rates given), got {hours!r}")
    empty, full = _absorption(np.array([int(capacity)]), pickup, dropoff, (int(hours),))
    return empty[0, 0, : int(capacity) + 1], full[0, 0, : int(capacity) + 1]


def failure_exposure(risk: StationRisk, pickup_rates: ArrayLike, dropoff_rates: ArrayLike) -> np.ndarray:
    """What each station's riders stand to lose within 3 hours: ``p_empty_3h`` x the pickups expected in them
    plus ``p_full_3h`` x the dropoffs (0 where ``valid`` is False). Not the exact expected failures, a ranking:
    the plan's priority, so that the trucks go first where riders would be turned away in numbers (a busy
    station about to fill before a quiet one just outside its interval; issue 22 §6 measured the difference)."""
    pickup = np.clip(np.asarray(pickup_rates, dtype=float)[:, :3], 0.0, None).sum(axis=1)
    dropoff = np.clip(np.asarray(dropoff_rates, dtype=float)[:, :3], 0.0, None).sum(axis=1)
    exposure = risk.p_empty_3h * pickup + risk.p_full_3h * dropoff
    return np.where(risk.valid, np.nan_to_num(exposure), 0.0)


def station_risk(
    bikes: ArrayLike,
    capacity: ArrayLike,
    pickup_rates: ArrayLike,
    dropoff_rates: ArrayLike,
    config: RiskConfig = RiskConfig(),  # frozen: a shared default is safe
) -> StationRisk:
    """The fleet's risks and target intervals. ``bikes``, ``capacity``: shape ``(n,)``; rates ``(n, k)``,
    ``k ≥ max(config.horizons_hours)``, events per hour for hours +1, +2, …

    A station with capacity missing (NaN/None), infinite or ≤ 0 is ``valid=False`` and not checked further: one
    decommissioned dock must not stop the fleet's plan. For the others it raises ValueError naming the
    station indices: a non-integer capacity, bikes not an integer in ``[0, capacity]`` (the caller
    validates its inventory; clamping here would hide a bug), a NaN/infinite rate. Negative rates count as 0.
    Stations sharing capacity and rates are computed once; the cost grows with the fleet, the capacities and
    the largest hourly ``λp + λd`` (the series' length), ~1 s for 2,000 stations of 10-60 docks at 0-30/hour."""
    bikes_a = np.asarray(bikes, dtype=float)
    cap_a = np.asarray(capacity, dtype=float)
    pickup = np.asarray(pickup_rates, dtype=float)
    dropoff = np.asarray(dropoff_rates, dtype=float)
    horizons = tuple(int(h) for h in config.horizons_hours)
    n = cap_a.shape[0] if cap_a.ndim == 1 else -1
    if n < 0 or bikes_a.shape != (n,):
        raise ValueError(f"bikes and capacity must be 1-d of the same length, got {bikes_a.shape}, {cap_a.shape}")
    for name, r in (("pickup_rates", pickup), ("dropoff_rates", dropoff)):
        if r.ndim != 2 or r.shape[0] != n or r.shape[1] < horizons[-1]:
            raise ValueError(f"{name} must have shape ({n}, ≥{horizons[-1]}), got {r.shape}")

    valid = np.isfinite(cap_a) & (cap_a >= 1)
    _raise_at(valid & (cap_a != np.round(cap_a)), "capacity is not an integer")
    _raise_at(
        valid & ~((bikes_a >= 0) & (bikes_a <= cap_a) & (bikes_a == np.round(bikes_a))), "bikes not in 0..capacity"
    )
    idx = np.flatnonzero(valid)
    pickup = _rates(pickup[idx, : horizons[-1]], "pickup_rates", idx)
    dropoff = _rates(dropoff[idx, : horizons[-1]], "dropoff_rates", idx)
    caps = cap_a[idx].astype(np.int64)
    b = bikes_a[idx].astype(np.int64)

    # Dedupe: stations of the same size with the same forecast share their chain.
    keys = np.column_stack([caps, pickup, dropoff])
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    ucaps = unique[:, 0].astype(np.int64)
    h = horizons[-1]
    empty, full = _absorption(ucaps, unique[:, 1 : 1 + h], unique[:, 1 + h :], horizons)
    low, high, reach = _targets(ucaps, empty[:, -1], full[:, -1], config.service_level)

    def spread(values: np.ndarray, fill: float, dtype: type) -> np.ndarray:
        out = np.full(n, fill, dtype=dtype)
        out[idx] = values
        return out

    p_empty = {hh: spread(empty[inverse, j, b], np.nan, float) for j, hh in enumerate(horizons)}
    p_full = {hh: spread(full[inverse, j, b], np.nan, float) for j, hh in enumerate(horizons)}
    return StationRisk(
        p_empty_1h=p_empty[1],
        p_empty_3h=p_empty[3],
        p_full_1h=p_full[1],
        p_full_3h=p_full[3],
        target_low=spread(low[inverse], -1, np.int64),
        target_high=spread(high[inverse], -1, np.int64),
        reachable=spread(reach[inverse], False, bool),
        valid=valid,
        p_empty_by_hours=p_empty,
        p_full_by_hours=p_full,
    )


def simulate(
    capacity: int,
    bikes: int,
    pickup_rates: Sequence[float],
    dropoff_rates: Sequence[float],
    hours: int,
    runs: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Monte-Carlo (Gillespie) ``(p_empty, p_full)`` within ``hours``: the share of ``runs`` paths of the
    unabsorbed chain that touch 0, resp. ``capacity``. An independent check on :func:`hitting_probabilities`
    (the absorbing chain agrees with the free one up to its first hit, so one path serves both). All runs
    step together; at each hour boundary a pending event is redrawn under the new rates (memoryless)."""
    count = np.full(runs, int(bikes), dtype=np.int64)
    hit_empty = count == 0
    hit_full = count == capacity
    for hour in range(hours):
        lp, ld = max(float(pickup_rates[hour]), 0.0), max(float(dropoff_rates[hour]), 0.0)
        clock = np.zeros(runs)
        live = np.flatnonzero(~(hit_empty & hit_full))
        while live.size:
            c = count[live]
            rp = np.where(c > 0, lp, 0.0)
            total = rp + np.where(c < capacity, ld, 0.0)
            with np.errstate(divide="ignore"):
                wait = rng.exponential(size=live.size) / total  # inf when stuck (no rate out)
            moves = clock[live] + wait < 1.0
            live, wait, rp, total = live[moves], wait[moves], rp[moves], total[moves]
            clock[live] += wait
            count[live] += np.where(rng.random(live.size) * total < rp, -1, 1)
            hit_empty[live] |= count[live] == 0
            hit_full[live] |= count[live] == capacity
            live = live[~(hit_empty[live] & hit_full[live])]
    return float(hit_empty.mean()), float(hit_full.mean())


def _rates(rates: np.ndarray, name: str, stations: np.ndarray | None = None) -> np.ndarray:
    """Rates clipped at 0; ValueError naming the stations (input indices) with a NaN or infinite rate."""
    bad = ~np.isfinite(rates).all(axis=1)
    if bad.any():
        where = np.flatnonzero(bad) if stations is None else stations[bad]
        raise ValueError(f"{name}: NaN or infinite rate at station index {_few(where)}")
    return np.maximum(rates, 0.0)


def _raise_at(bad: np.ndarray, what: str) -> None:
    if bad.any():
        raise ValueError(f"{what} at station index {_few(np.flatnonzero(bad))}")


def _few(indices: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:10])
    return shown + (f" (+{len(indices) - 10} more)" if len(indices) > 10 else "")


def _absorption(
    caps: np.ndarray, pickup: np.ndarray, dropoff: np.ndarray, horizons: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """``(empty, full)``, each ``(m, len(horizons), max(caps) + 1)``: absorption probabilities by each horizon
    for every starting count (entries past a station's capacity are meaningless). Stations go through in
    chunks of similar capacity, so the padding to the chunk's largest stays small."""
    m, size = len(caps), int(caps.max(initial=0)) + 1
    empty = np.zeros((m, len(horizons), size))
    full = np.zeros((m, len(horizons), size))
    order = np.argsort(caps, kind="stable")
    for start in range(0, m, CHUNK):
        chunk = order[start : start + CHUNK]
        s = int(caps[chunk].max()) + 1
        v = _chunk(caps[chunk], pickup[chunk], dropoff[chunk], horizons, s)
        empty[chunk, :, :s] = v[:, 0]
        full[chunk, :, :s] = v[:, 1]
    return empty, full


def _chunk(caps: np.ndarray, pickup: np.ndarray, dropoff: np.ndarray, horizons: tuple[int, ...], s: int) -> np.ndarray:
    """Uniformisation, vectorised over stations x {empty, full} x horizons x starting counts.

    Per hour with exit rate bound ``Λ = λp + λd`` and ``P = I + Q/Λ``: ``exp(Q) v = Σ_k Pois(k; Λ) P^k v``,
    a sum of non-negative terms (no cancellation, unlike a Taylor series of ``Q``). States past a station's
    capacity get no rates, so the padding never mixes with the chain."""
    n = len(caps)
    states = np.arange(s)
    inside = states[None, :] <= caps[:, None]
    # Which moves each chain allows at each state: (n, 2, s); chain 0 absorbs at 0, chain 1 at capacity.
    can_down = np.stack([(states >= 1) & inside, (states >= 1) & (states < caps[:, None])], axis=1)
    can_up = np.stack([(states >= 1) & (states < caps[:, None]), states < caps[:, None]], axis=1)
    absorbing = np.stack([np.broadcast_to(states == 0, (n, s)), states[None, :] == caps[:, None]], axis=1)
    v = np.broadcast_to(absorbing[:, :, None, :], (n, 2, len(horizons), s)).astype(float)

    for hour in range(horizons[-1], 0, -1):
        first = next(j for j, hh in enumerate(horizons) if hh >= hour)  # horizons still being carried back
        lam = pickup[:, hour - 1] + dropoff[:, hour - 1]
        moving = lam > 0
        if not moving.any():
            continue
        bound = np.where(moving, lam, 1.0)
        down = (can_down * (pickup[:, hour - 1] / bound)[:, None, None])[:, :, None, 1:]
        up = (can_up * (dropoff[:, hour - 1] / bound)[:, None, None])[:, :, None, :-1]
        terms = int(stats.poisson.isf(TAIL, bound.max())) + 2
        weights = stats.poisson.pmf(np.arange(terms)[None, :], bound[:, None])  # (n, terms)
        x = v[:, :, first:, :]
        acc = weights[:, 0, None, None, None] * x
        for k in range(1, terms):
            diff = x[..., 1:] - x[..., :-1]
            x = x.copy()
            x[..., 1:] -= down * diff
            x[..., :-1] += up * diff
            acc += weights[:, k, None, None, None] * x
        v[:, :, first:, :] = acc

    # Exact in theory: p_empty falls and p_full rises with the start (a higher start is coupled to stay
    # higher). Enforcing it removes rounding wiggles, so the target set is an interval by construction.
    v = np.clip(v, 0.0, 1.0)
    v[np.broadcast_to(absorbing[:, :, None, :], v.shape)] = 1.0  # already there: exactly 1, not Σ weights
    v[:, 0] = np.minimum.accumulate(v[:, 0], axis=-1)
    v[:, 1] = np.maximum.accumulate(v[:, 1], axis=-1)
    return v


def _targets(
    caps: np.ndarray, empty: np.ndarray, full: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(low, high, reachable)`` per station from the longest horizon's ``(m, size)`` risks: the smallest and
    largest counts with both risks ``≤ alpha``; else the count minimising the worse risk (ties within 1e-12:
    nearest ``capacity/2``, then the lower)."""
    states = np.arange(empty.shape[1])
    inside = states[None, :] <= caps[:, None]
    ok = (empty <= alpha) & (full <= alpha) & inside
    reachable = ok.any(axis=1)
    low = np.argmax(ok, axis=1)
    high = ok.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
    assert np.all(ok.sum(axis=1)[reachable] == (high - low + 1)[reachable]), "target set is not an interval"
    worse = np.where(inside, np.maximum(empty, full), np.inf)
    best = worse.min(axis=1, initial=np.inf)
    tied = worse <= best[:, None] + TIE
    fallback = np.argmin(np.where(tied, np.abs(states[None, :] - caps[:, None] / 2), np.inf), axis=1)
    return np.where(reachable, low, fallback), np.where(reachable, high, fallback), reachable
