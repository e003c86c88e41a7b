"""The hour's truck moves: bring the most (or the most urgent) stations into their target interval, then drive
the fewest km.

**Model.**

- A move is one loaded leg: the truck drives empty to ``from_station``, loads ``bikes`` (1..truck
  capacity), drives straight to ``to_station`` and unloads them all. The truck is empty between moves, so
  its load never exceeds its capacity. A route is depot → move 1 → move 2 → … → depot, back at the depot
  within the hour: the planner keeps no truck positions, so an hour's plan depends on the hour's inputs only.
- Each station takes part in at most one move an hour (one visit by one crew). Its count then changes once,
  so no interleaving of the trucks can take it outside ``[0, capacity]`` on the way; and each move's effect
  is its own, which is what makes the problem solvable at this size (below). A station's surplus split over
  several moves, the general flow, was tried first: with a bike count per move and sums per station, CP-SAT
  had no first plan within 2 s at 53 stations, and it rarely pays within an hour of 1-4 moves per truck.
- A move keeps both ends in ``[0, capacity]``, and a station inside ``[low, high]`` stays inside (it may give
  down to ``low`` or take up to ``high``): the plan never breaks a station to fix another.
- A truck's time: driving (haversine metres at ``speed_kmh``, each leg rounded up to the second), plus
  ``minutes_per_stop`` at each pickup and each drop-off, plus ``minutes_per_bike`` per bike moved (loading
  and unloading together), at most ``minutes_per_hour``; at most ``trucks`` routes.

**Objective**, lexicographic: (1) maximise the stations inside their interval after the moves, each counted
by its *priority* (default 1: the most stations; the product passes each station's expected failed pickups
and returns over the horizon, so the trucks go where riders would be turned away, not to the stations just
outside their interval), (2) minimise the metres driven, depot to depot. One weighted sum, exact: priorities
become integers (``PRIZE_SCALE`` for the largest, at least 1), and a prize unit weighs more than the longest
total drive the budgets allow (``trucks x speed x hour`` metres).

**Reduction, exact.** As a move is the only one touching its two stations, all that matters of its bikes is
which of the two it fixes and its handling time: for each (from, to) pair the model keeps the fewest bikes
that fix both, and the fewest that fix only the giver or only the taker when that is fewer and the other does
not fix as much with as few, and no move that fixes neither (dropping one keeps the prize and saves time and
km). Moves must start above ``high`` or end below ``low``
and fit a truck's hour on their own. What is left is a team orienteering problem: each candidate move a
node with a prize (the priorities of the stations it fixes) and a duration, at most one node per station.

**Solver.** OR-Tools CP-SAT, one model: a literal per candidate move, ``add_multiple_circuit`` from the depot
for the routes, a finish time per move chained along the chosen arcs (which rules out sub-tours and enforces
the budget), ``at_most_one`` per station; for the LP bound, one arc in and one out per used move and the
fleet's total time. Deterministic: one thread interleaving CP-SAT's subsolvers (its search and its
large-neighbourhood searches, which find the routes at 2,000 stations), a fixed seed, and the limit in CP-SAT
*deterministic* time, so the same input gives the same plan whatever the machine's load (a wall-clock limit
of ``WALL_GUARD`` times that only guards against a pathological run, and ``Plan.wall_clock_stop`` says when it
did). Probing and the big-linear-overlap presolve are off: on these models they took the whole budget.

**Candidates, for size.** Up to ``FULL_MODEL`` candidate moves the model has them all and every arc between
them: its answer is the optimum (the tests compare it with brute force). Above that, each station outside
its interval keeps its moves with its ``NEIGHBOURS`` nearest partners outside on the other side and its
``NEIGHBOURS`` nearest other partners; the ``MAX_CANDIDATES`` with the most prize per minute of a depot round
trip stay; each keeps arcs to its ``ARC_NEIGHBOURS`` nearest next moves. ``OPTIMAL`` then means
optimal over that pruned graph (``Plan.pruned``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike
from ortools.sat.python import cp_model

EARTH_RADIUS_M = 6_371_008.8  # mean radius (IUGG)
FULL_MODEL = 60  # up to this many candidate moves: all of them and every arc (exact)
NEIGHBOURS = 4  # above: per station outside its interval, nearest partners kept of each kind
MAX_CANDIDATES = 250  # above: candidate moves kept, by stations fixed per minute of a depot round trip
ARC_NEIGHBOURS = 10  # above: per candidate, the nearest next moves its route may go on to
SEED = 0
PRIZE_SCALE = 1000  # the largest priority's integer prize (the others in proportion, at least 1)
WALL_GUARD = 10.0  # wall-clock limit: this many times the deterministic one (+5 s), for a pathological run


@dataclass(frozen=True)
class Fleet:
    """Trucks and what one can do in an hour. Defaults: the issue's 2 trucks x 20 bikes; 20 km/h is city
    driving with lights and parking; 5 min a stop to park and open the dock; 0.5 min per bike moved (loading
    and unloading). ``depot`` (lat, lon): ``None`` is the centroid of the stations planned."""

    trucks: int = 2
    truck_capacity: int = 20
    depot: tuple[float, float] | None = None
    minutes_per_hour: float = 60.0
    speed_kmh: float = 20.0
    minutes_per_stop: float = 5.0
    minutes_per_bike: float = 0.5

    def __post_init__(self) -> None:
        if self.trucks < 0 or self.truck_capacity < 0:
            raise ValueError(f"trucks and truck_capacity must be >= 0, got {self.trucks}, {self.truck_capacity}")
        if not (math.isfinite(self.speed_kmh) and self.speed_kmh > 0):
            raise ValueError(f"speed_kmh must be a positive number, got {self.speed_kmh!r}")
        minutes = (self.minutes_per_hour, self.minutes_per_stop, self.minutes_per_bike)
        if not all(math.isfinite(m) and m >= 0 for m in minutes):
            raise ValueError(f"minutes per hour, stop and bike must be finite and >= 0, got {minutes}")


@dataclass(frozen=True)
class Move:
    """``bikes`` from ``from_station`` to ``to_station``, the ``order``-th move (1, 2, …) of ``truck`` (1..T)."""

    from_station: str
    to_station: str
    bikes: int
    truck: int
    order: int


@dataclass(frozen=True)
class Plan:
    """The moves and what they achieve. Counts are over the stations planned (``stations``; ``excluded``
    were invalid); ``km`` and ``truck_minutes`` (one per truck, 0 when idle) include the drive back to the
    depot. ``status``: CP-SAT's ``OPTIMAL`` (proved, over the candidates) or ``FEASIBLE`` (best found within
    the limit), else why there was nothing to solve: ``ALL_INSIDE``, ``NO_FLEET`` (no truck, capacity or time
    for a move), ``NO_CANDIDATES`` (no move fixes a station within a truck's hour), or CP-SAT's ``UNKNOWN`` (no
    plan within the limit; no moves). ``solve_seconds`` is wall time, left out of comparisons so that equal
    inputs give equal plans; ``wall_clock_stop``: the wall-clock guard, not the deterministic limit, stopped
    the search (a rerun may then differ)."""

    moves: list[Move]
    in_interval_before: int
    in_interval_after: int
    bikes_moved: int
    km: float
    status: str
    truck_minutes: tuple[float, ...] = ()
    stations: int = 0
    excluded: int = 0
    candidates: int = 0
    pruned: bool = False
    wall_clock_stop: bool = field(default=False, compare=False)
    solve_seconds: float = field(default=0.0, compare=False)


def haversine_m(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> np.ndarray:
    """Great-circle metres, broadcasting: the street distance's lower bound, the same for every caller."""
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dp, dl = p2 - p1, np.radians(np.asarray(lon2, float) - np.asarray(lon1, float))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def leg_metres(lat: ArrayLike, lon: ArrayLike, depot: tuple[float, float]) -> np.ndarray:
    """Whole metres between the stations and the depot (last row and column): the integers optimised."""
    la, lo = np.append(np.asarray(lat, float), depot[0]), np.append(np.asarray(lon, float), depot[1])
    return np.rint(haversine_m(la[:, None], lo[:, None], la[None, :], lo[None, :])).astype(np.int64)


def leg_seconds(metres: ArrayLike, fleet: Fleet) -> np.ndarray:
    """Driving seconds, rounded up: a plan within the budget in seconds is within it in reality."""
    return np.ceil(np.asarray(metres) * 3.6 / fleet.speed_kmh - 1e-9).astype(np.int64)


def fleet_seconds(fleet: Fleet) -> tuple[int, int, int]:
    """(budget, per stop, per bike) in whole seconds, the model's unit of time."""
    budget = math.floor(fleet.minutes_per_hour * 60 + 1e-9)
    return budget, round(fleet.minutes_per_stop * 60), round(fleet.minutes_per_bike * 60)


def in_interval(bikes: ArrayLike, low: ArrayLike, high: ArrayLike) -> np.ndarray:
    b = np.asarray(bikes)
    return (np.asarray(low) <= b) & (b <= np.asarray(high))


def apply_moves(bikes: ArrayLike, station_ids: Sequence[str], moves: Sequence[Move]) -> np.ndarray:
    """The counts once every move is done (a copy; the end counts do not depend on the order)."""
    after = np.array(bikes, dtype=np.int64, copy=True)
    index = {s: i for i, s in enumerate(station_ids)}
    for move in moves:
        after[index[move.from_station]] -= move.bikes
        after[index[move.to_station]] += move.bikes
    return after


def plan_moves(
    station_ids: Sequence[str],
    lat: ArrayLike,
    lon: ArrayLike,
    bikes: ArrayLike,
    capacity: ArrayLike,
    target_low: ArrayLike,
    target_high: ArrayLike,
    fleet: Fleet = Fleet(),
    time_limit_s: float | None = None,
    valid: ArrayLike | None = None,
    priority: ArrayLike | None = None,
    max_bikes: int | None = None,
) -> Plan:
    """The hour's moves (model in the module docstring). ``valid`` False excludes a station, and so do
    non-finite values and inconsistent counts (not ``0 <= low <= high <= capacity``, bikes outside
    ``[0, capacity]``), counted in ``Plan.excluded``. ``time_limit_s``: CP-SAT deterministic seconds, by default
    :func:`default_time_limit` of the stations planned. ``priority`` (>= 0, finite; ``None``: 1 each): what
    bringing each station inside is worth (:func:`station_prizes`). ``max_bikes``: at most this many bikes
    moved in the hour, all trucks together (the crews' handling; ``None``: only the trucks' hours bound it)."""
    started = time.perf_counter()
    ids = [str(s) for s in station_ids]
    if len(set(ids)) != len(ids):
        raise ValueError("station_ids must be unique")
    arrays = [np.asarray(a, float).reshape(-1) for a in (lat, lon, bikes, capacity, target_low, target_high)]
    if any(len(a) != len(ids) for a in arrays):
        raise ValueError(f"every array must hold one value per station ({len(ids)})")
    la, lo, b, cap, low, high = arrays
    worth = np.ones(len(ids)) if priority is None else np.asarray(priority, float).reshape(-1)
    if len(worth) != len(ids) or not (np.isfinite(worth) & (worth >= 0)).all():
        raise ValueError(f"priority must hold one finite value >= 0 per station ({len(ids)})")
    ok = np.ones(len(ids), bool) if valid is None else np.asarray(valid, bool).reshape(-1).copy()
    with np.errstate(invalid="ignore"):
        ok &= np.isfinite(arrays).all(axis=0) & (low >= 0) & (low <= high) & (high <= cap) & (b >= 0) & (b <= cap)
    keep = np.flatnonzero(ok)
    sid = [ids[i] for i in keep]
    la, lo = la[keep], lo[keep]
    b, cap, low, high = (np.floor(a[keep]).astype(np.int64) for a in (b, cap, low, high))
    inside = in_interval(b, low, high)
    n_in = int(inside.sum())
    common = {"stations": len(keep), "excluded": len(ids) - len(keep)}

    def nothing(status: str, candidates: int = 0, pruned: bool = False) -> Plan:
        return Plan(
            [], n_in, n_in, 0, 0.0, status, (0.0,) * fleet.trucks, candidates=candidates, pruned=pruned,
            solve_seconds=time.perf_counter() - started, **common,
        )  # fmt: skip

    if inside.all():
        return nothing("ALL_INSIDE")
    budget, stop_s, bike_s = fleet_seconds(fleet)
    if fleet.trucks == 0 or fleet.truck_capacity == 0 or budget < 2 * stop_s + bike_s:
        return nothing("NO_FLEET")
    dep = len(keep)  # the depot: the last row and column of the distance matrices
    depot = fleet.depot if fleet.depot is not None else (float(la.mean()), float(lo.mean()))
    metres = leg_metres(la, lo, depot)
    secs = leg_seconds(metres, fleet)
    c = Candidates.build(b, cap, low, high, metres, secs, fleet, station_prizes(worth[keep]))
    if max_bikes is not None:  # a move over the budget alone can never be used (and the model needs a route)
        c = c.take(np.flatnonzero(c.bikes <= max_bikes))
    if c.size == 0:
        return nothing("NO_CANDIDATES")
    pruned = c.size > FULL_MODEL
    if pruned:
        c = c.pruned(surplus=b > high, deficit=b < low, metres=metres, secs=secs)

    # The model. Node 0 is the depot, node m + 1 the candidate move m.
    model = cp_model.CpModel()
    used = [model.new_bool_var(f"move{m}") for m in range(c.size)]
    earliest = secs[dep, c.frm] + c.seconds  # finish times: straight from the depot ...
    latest = budget - secs[c.to, dep]  # ... and straight back
    finish = [
        model.new_int_var(int(e), int(x), f"finish{m}") for m, (e, x) in enumerate(zip(earliest, latest, strict=True))
    ]
    weight = int(fleet.trucks * budget * fleet.speed_kmh / 3.6) + 1  # > any metres the budgets allow
    arcs: list[tuple[int, int, cp_model.IntVar]] = []
    gain: list = []
    for m in range(c.size):
        arcs.append((m + 1, m + 1, ~used[m]))
        gain.append((weight * int(c.prize[m]) - int(metres[c.frm[m], c.to[m]])) * used[m])
        for tail, head, leg in ((0, m + 1, metres[dep, c.frm[m]]), (m + 1, 0, metres[c.to[m], dep])):
            lit = model.new_bool_var(f"arc{tail}_{head}")
            arcs.append((tail, head, lit))
            gain.append(-int(leg) * lit)
    shares = (c.frm[:, None] == c.frm[None, :]) | (c.frm[:, None] == c.to[None, :])
    shares |= (c.to[:, None] == c.frm[None, :]) | (c.to[:, None] == c.to[None, :])
    deadhead = secs[c.to[:, None], c.frm[None, :]]
    fits = (earliest[:, None] + deadhead + c.seconds[None, :] <= latest[None, :]) & ~shares
    if pruned:
        far = np.where(fits, metres[c.to[:, None], c.frm[None, :]], np.iinfo(np.int64).max)
        nearest = np.zeros_like(fits)
        np.put_along_axis(nearest, np.argsort(far, axis=1, kind="stable")[:, :ARC_NEIGHBOURS], True, axis=1)
        fits &= nearest
    for p, q in zip(*np.nonzero(fits), strict=True):
        lit = model.new_bool_var(f"arc{p + 1}_{q + 1}")
        arcs.append((int(p) + 1, int(q) + 1, lit))
        model.add(finish[q] >= finish[p] + int(deadhead[p, q] + c.seconds[q])).only_enforce_if(lit)
        gain.append(-int(metres[c.to[p], c.frm[q]]) * lit)
    model.add_multiple_circuit(arcs)
    model.add(sum(lit for tail, head, lit in arcs if tail == 0) <= fleet.trucks)
    for s in np.unique(np.concatenate([c.frm, c.to])):
        model.add_at_most_one(used[m] for m in np.flatnonzero((c.frm == s) | (c.to == s)))
    into: list[list] = [[] for _ in range(c.size)]
    out_of: list[list] = [[] for _ in range(c.size)]
    fleet_time = [int(c.seconds[m]) * used[m] for m in range(c.size)]
    for tail, head, lit in arcs:
        if tail == head:
            continue
        if head:
            into[head - 1].append(lit)
        if tail:
            out_of[tail - 1].append(lit)
        a, z = (dep if tail == 0 else c.to[tail - 1]), (dep if head == 0 else c.frm[head - 1])
        fleet_time.append(int(secs[a, z]) * lit)
    for m in range(c.size):
        model.add(sum(into[m]) == used[m])
        model.add(sum(out_of[m]) == used[m])
    model.add(sum(fleet_time) <= fleet.trucks * budget)
    if max_bikes is not None:
        model.add(sum(int(c.bikes[m]) * used[m] for m in range(c.size)) <= max(0, int(max_bikes)))
    model.maximize(sum(gain))

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.interleave_search = True
    solver.parameters.random_seed = SEED
    solver.parameters.cp_model_probing_level = 0
    solver.parameters.find_big_linear_overlap = False
    limit = default_time_limit(len(keep)) if time_limit_s is None else float(time_limit_s)
    solver.parameters.max_deterministic_time = limit
    solver.parameters.max_time_in_seconds = WALL_GUARD * limit + 5.0
    code = solver.solve(model)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return nothing(solver.status_name(code), c.size, pruned)
    wall_stop = code == cp_model.FEASIBLE and solver.deterministic_time < limit

    # Routes: follow the chosen arcs from the depot; trucks numbered in the order of their first move.
    nxt = {tail: head for tail, head, lit in arcs if tail != head and solver.boolean_value(lit)}
    moves: list[Move] = []
    minutes, total_m = [0.0] * fleet.trucks, 0
    for truck, node in enumerate(sorted(h for t, h, lit in arcs if t == 0 and solver.boolean_value(lit)), 1):
        here, seconds, order = dep, 0, 0
        while node != 0:
            m, order = node - 1, order + 1
            moves.append(Move(sid[c.frm[m]], sid[c.to[m]], int(c.bikes[m]), truck, order))
            total_m += int(metres[here, c.frm[m]] + metres[c.frm[m], c.to[m]])
            seconds += int(secs[here, c.frm[m]] + c.seconds[m])
            here, node = c.to[m], nxt[node]
        total_m += int(metres[here, dep])
        minutes[truck - 1] = (seconds + int(secs[here, dep])) / 60
    after = apply_moves(b, sid, moves)
    return Plan(
        moves=moves,
        in_interval_before=n_in,
        in_interval_after=int(in_interval(after, low, high).sum()),
        bikes_moved=sum(mv.bikes for mv in moves),
        km=total_m / 1000,
        status=solver.status_name(code),
        truck_minutes=tuple(minutes),
        candidates=c.size,
        pruned=pruned,
        wall_clock_stop=wall_stop,
        solve_seconds=time.perf_counter() - started,
        **common,
    )


def station_prizes(priority: ArrayLike) -> np.ndarray:
    """Integer prizes in proportion to ``priority``: ``PRIZE_SCALE`` for the largest, at least 1 each (a station
    of priority 0 still counts a little: the plan never leaves an interval unfilled for nothing)."""
    worth = np.asarray(priority, float)
    top = worth.max(initial=0.0)
    if top <= 0:
        return np.ones(len(worth), np.int64)
    return np.maximum(1, np.rint(worth * (PRIZE_SCALE / top))).astype(np.int64)


def default_time_limit(stations: int) -> float:
    """CP-SAT deterministic seconds: 1.5 up to 75 stations (at 53 most hours are proved optimal within it, and
    the others found no better plan with 4), then 1 per 50 stations up to 10 from 500 on.
    ``benchmarks/rebalancing_plan.py``: about 1.1-1.4 CPU s per unit with the set-up; at 500 and 2,000
    stations plans still improve up to 10, little after."""
    return min(10.0, max(1.5, stations / 50))


@dataclass(frozen=True)
class Candidates:
    """Candidate moves, one per entry: stations (indices), bikes, prize of the stations fixed, seconds (leg, stops,
    bikes)."""

    frm: np.ndarray
    to: np.ndarray
    bikes: np.ndarray
    prize: np.ndarray
    seconds: np.ndarray

    @property
    def size(self) -> int:
        return len(self.frm)

    @classmethod
    def build(cls, b, cap, low, high, metres, secs, fleet: Fleet, prizes: np.ndarray | None = None) -> Candidates:
        """Every (from, to) pair's moves that matter (module docstring: the reduction), fitting the hour alone.

        A station fixed by giving ``k`` needs ``k`` in ``[b - high, b - low]`` (only above ``high``); one fixed
        by taking ``k``, ``k`` in ``[low - b, high - b]`` (only below ``low``). ``k`` is also bounded by the truck
        and by what keeps both ends valid: down to ``low`` (inside) or 0, up to ``high`` (inside) or capacity.
        ``prizes``: each station's integer prize when fixed (``None``: 1 each)."""
        n = len(b)
        prizes = np.ones(n, np.int64) if prizes is None else np.asarray(prizes, np.int64)
        budget, stop_s, bike_s = fleet_seconds(fleet)
        inside, surplus, deficit = in_interval(b, low, high), b > high, b < low
        give = np.where(inside, b - low, b)
        room = np.where(inside, high - b, cap - b)
        ok = (surplus[:, None] | deficit[None, :]) & (give[:, None] > 0) & (room[None, :] > 0) & ~np.eye(n, dtype=bool)
        i, j = np.nonzero(ok)
        top = np.minimum(np.minimum(give[i], room[j]), fleet.truck_capacity)
        none = np.iinfo(np.int64).max
        giver_lo = np.where(surplus[i], b[i] - high[i], none)  # the giver's fixing bikes, else an empty range
        giver_hi = np.minimum(np.where(surplus[i], b[i] - low[i], -1), top)
        taker_lo = np.where(deficit[j], low[j] - b[j], none)
        taker_hi = np.minimum(np.where(deficit[j], high[j] - b[j], -1), top)
        both = np.maximum(giver_lo, taker_lo)
        both_ok = both <= np.minimum(giver_hi, taker_hi)
        # One end only, with fewer bikes than fixing both (so it does not fix the other end); of the two, the one
        # that fixes as much with as few bikes (the giver on a tie) dominates the other.
        pg, pt = prizes[i], prizes[j]
        g_ok = (giver_lo <= giver_hi) & ~(both_ok & (giver_lo >= both))
        t_ok = (taker_lo <= taker_hi) & ~(both_ok & (taker_lo >= both))
        g_only = g_ok & ~(t_ok & (pt >= pg) & (taker_lo <= giver_lo) & ((pt > pg) | (taker_lo < giver_lo)))
        t_only = t_ok & ~(g_ok & (pg >= pt) & (giver_lo <= taker_lo))
        frm = np.concatenate([i[both_ok], i[g_only], i[t_only]])
        to = np.concatenate([j[both_ok], j[g_only], j[t_only]])
        bikes = np.concatenate([both[both_ok], giver_lo[g_only], taker_lo[t_only]])
        prize = np.concatenate([(pg + pt)[both_ok], pg[g_only], pt[t_only]])
        seconds = secs[frm, to] + 2 * stop_s + bike_s * bikes
        dep = n
        fit = secs[dep, frm] + seconds + secs[to, dep] <= budget
        order = np.lexsort((bikes[fit], to[fit], frm[fit]))  # a fixed order: (from, to, bikes)
        return cls(*(a[fit][order] for a in (frm, to, bikes, prize, seconds)))

    def take(self, index: np.ndarray) -> Candidates:
        index = np.sort(index)
        return Candidates(self.frm[index], self.to[index], self.bikes[index], self.prize[index], self.seconds[index])

    def pruned(self, surplus: np.ndarray, deficit: np.ndarray, metres: np.ndarray, secs: np.ndarray) -> Candidates:
        """For size (module docstring): the nearest partners of each station outside, then the best per minute."""
        keep = np.zeros(self.size, bool)
        dist = metres[self.frm, self.to]
        # A station above high gives to partners below low or others; one below low takes, the other way.
        for end, partner, outside, opposite in (
            (self.frm, self.to, surplus, deficit),
            (self.to, self.frm, deficit, surplus),
        ):
            for s in np.unique(end[outside[end]]):
                mine = np.flatnonzero(end == s)
                for kind in (opposite[partner[mine]], ~opposite[partner[mine]]):
                    rows = mine[kind]
                    ranked = np.unique(np.stack([dist[rows], partner[rows]], axis=1), axis=0)[:NEIGHBOURS, 1]
                    keep[rows[np.isin(partner[rows], ranked)]] = True
        chosen = np.flatnonzero(keep)
        if len(chosen) > MAX_CANDIDATES:
            dep = len(surplus)
            round_trip = secs[dep, self.frm[chosen]] + self.seconds[chosen] + secs[self.to[chosen], dep]
            rate = self.prize[chosen] / round_trip
            chosen = chosen[np.lexsort((chosen, -rate))[:MAX_CANDIDATES]]
        return self.take(chosen)
