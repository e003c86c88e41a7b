"""Does the plan help? A month of real trips replayed through the docks under three policies (issue 22 §6).

Pure: arrays in, counts out; reading trip files and printing the table is ``benchmarks/rebalancing_backtest.py``.
The replay is the same for every policy, so only the policy differs:

- **Stations.** The network is the stations with a known capacity and coordinates. A trip end at a station
  outside it (a Manhattan station, one missing from ``station_information.json``) is a dock the replay does
  not model: that pickup or dropoff always succeeds and is not counted; the trip's other end is replayed.
- **Start.** Every month starts from :func:`inventory.start_snapshot` (half full), so months are independent
  (and run in parallel); the same start for every policy.
- **Riders.** Every pickup (at the trip's start time) and dropoff (at its end time) inside the window, in time
  order (ties: trip, then pickup before dropoff), through :class:`inventory.Docks`. A pickup at an empty dock
  is a *failed pickup*: the rider walks away and the trip is lost, so its dropoff never happens (the standard
  choice, the same for every policy). A dropoff at a full dock is a *failed return*, counted at that station;
  the rider leaves the bike at the nearest station with a free dock. A trip that started before the window
  ends in it as recorded.
- **Trucks.** At each hour's start the policy sees the docks' counts and returns moves
  ``(from_station, to_station, bikes, truck, order)`` for the same fleet under the same time model, the plan's
  own (:class:`Routes`: depot → move 1 → … → depot within the hour, a stop at each end of a move). Moves take
  effect *along the route*, not at the hour's start: a load or unload happens at the second its truck leaves
  that station, interleaved with the riders. A load takes what the station still has (at most the planned
  bikes); an unload leaves what fits and the rest at the nearest free docks (the riders' rule; rare). *Bikes
  moved* counts bikes actually carried; *stops* the stations visited (two per move, as the plan's time model).

Policies see only the docks' counts now and, for the plan, a :class:`Forecaster`'s expected pickups and
dropoffs for the next hours. The default :class:`TrailingMeanForecaster` uses only trips that ended before the
hour; the production model plugs in through the same ``rates(at, hours)``.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from include.rebalancing.inventory import DROPOFF, PICKUP, Docks, start_snapshot
from include.rebalancing.plan import Fleet, Move, fleet_seconds, haversine_m, leg_metres, leg_seconds, plan_moves
from include.rebalancing.risk import RiskConfig, failure_exposure, station_risk

OUTSIDE = -1  # a trip end at a station the network does not simulate
HOUR_S = 3600.0


@dataclass(frozen=True)
class Network:
    """The simulated docks, in a fixed order: ids, capacities (integers ≥ 1) and coordinates."""

    station_ids: tuple[str, ...]
    capacity: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.station_ids)
        for name in ("capacity", "lat", "lon"):
            if np.asarray(getattr(self, name)).shape != (n,):
                raise ValueError(f"{name} must have shape ({n},)")
        if not np.all(np.asarray(self.capacity) >= 1):
            raise ValueError("every simulated station needs a capacity ≥ 1")

    @property
    def size(self) -> int:
        return len(self.station_ids)

    def index(self) -> dict[str, int]:
        return {sid: i for i, sid in enumerate(self.station_ids)}

    def nearest(self) -> list[list[int]]:
        """For each station the others, nearest first (ties by index): where a bike that finds no dock goes."""
        lat, lon = np.asarray(self.lat, float), np.asarray(self.lon, float)
        metres = haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
        n = self.size
        return [[int(j) for j in np.lexsort((np.arange(n), metres[i])) if j != i] for i in range(n)]


@dataclass(frozen=True)
class Trips:
    """Trips as arrays: network indices of both ends (:data:`OUTSIDE` if not simulated) and POSIX seconds."""

    start_station: np.ndarray
    end_station: np.ndarray
    start_s: np.ndarray
    end_s: np.ndarray

    def __len__(self) -> int:
        return len(self.start_s)


@dataclass(frozen=True)
class Events:
    """A window's rider events in replay order: seconds from the window's start, delta (``PICKUP`` -1 /
    ``DROPOFF`` +1), station, trip (index into the :class:`Trips`)."""

    t: np.ndarray
    delta: np.ndarray
    station: np.ndarray
    trip: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


def window_events(trips: Trips, start: datetime, hours: int) -> Events:
    """The pickups and dropoffs at simulated stations with ``start <= t < start + hours``, in replay order."""
    t0, end = start.timestamp(), hours * HOUR_S
    parts = []
    for delta, station, ts in ((PICKUP, trips.start_station, trips.start_s), (DROPOFF, trips.end_station, trips.end_s)):
        rel = np.asarray(ts, dtype=float) - t0
        keep = np.flatnonzero((np.asarray(station) != OUTSIDE) & (rel >= 0) & (rel < end))
        parts.append((rel[keep], np.full(len(keep), delta), np.asarray(station)[keep], keep))
    t, delta, station, trip = (np.concatenate([p[i] for p in parts]) for i in range(4))
    order = np.lexsort((delta, trip, t))  # pickups (-1) before dropoffs (+1) of the same trip at the same second
    return Events(
        t[order], delta[order].astype(np.int64), station[order].astype(np.int64), trip[order].astype(np.int64)
    )


# --- the fleet's time model: the plan's own -----------------------------------------------------------------


@dataclass(frozen=True)
class Stop:
    """A truck's load (``bikes > 0``) or unload (``bikes < 0``) for move ``move``, ``second`` s after the hour."""

    second: float
    truck: int
    station: int
    bikes: int
    move: int


class Routes:
    """The plan's time model (:mod:`include.rebalancing.plan`) for any policy's moves: whole-second legs
    between stations and the depot (by default the stations' centroid, as the plan's), a stop at each move's
    ``from`` and ``to``, ``minutes_per_bike`` per bike moved, back at the depot within ``minutes_per_hour``."""

    def __init__(self, network: Network, fleet: Fleet) -> None:
        self.network, self.fleet = network, fleet
        lat, lon = np.asarray(network.lat, float), np.asarray(network.lon, float)
        depot = fleet.depot if fleet.depot is not None else (float(lat.mean()), float(lon.mean()))
        self.secs = leg_seconds(leg_metres(lat, lon, depot), fleet)
        self.depot = network.size  # the depot's row and column in ``secs``
        self.budget, self.stop_s, self.bike_s = fleet_seconds(fleet)
        self.index = network.index()

    def move_seconds(self, here: int, src: int, dst: int, bikes: int) -> int:
        """The seconds a move adds to a route that ended at ``here`` (:attr:`depot` for a truck's first)."""
        return int(self.secs[here, src] + self.secs[src, dst] + 2 * self.stop_s + self.bike_s * bikes)

    def schedule(self, moves: Sequence[Any]) -> tuple[list[Stop], list[int]]:
        """Every move's load and unload in its truck's route order, each at the second the truck leaves that
        station (half the move's bike time at each end); and each truck's seconds, depot to depot."""
        stops: list[Stop] = []
        totals: list[int] = []
        by_truck: dict[int, list[tuple[int, Any]]] = {}
        for i, m in enumerate(moves):
            by_truck.setdefault(int(m.truck), []).append((i, m))
        for truck in sorted(by_truck):
            here, clock = self.depot, 0.0
            for i, m in sorted(by_truck[truck], key=lambda item: (int(item[1].order), item[0])):
                src, dst, k = self.index[m.from_station], self.index[m.to_station], int(m.bikes)
                clock += self.secs[here, src] + self.stop_s + self.bike_s * k / 2
                stops.append(Stop(clock, truck, src, k, i))
                clock += self.secs[src, dst] + self.stop_s + self.bike_s * k / 2
                stops.append(Stop(clock, truck, dst, -k, i))
                here = dst
            totals.append(round(clock + self.secs[here, self.depot]))
        return stops, totals


# --- forecasts ----------------------------------------------------------------------------------------------


class Forecaster(Protocol):
    """Expected pickups and dropoffs per station for the hours ``[at, at + 1 h)``, …: two ``(n, hours)``
    arrays in the network's order, from what was known before ``at`` only."""

    name: str

    def rates(self, at: datetime, hours: int) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class HourlyCounts:
    """Pickups and dropoffs per station in each local wall-clock hour since ``origin`` (naive, local time),
    ``(hours, n)``: the forecaster's history, binned in local time so "the same weekday and hour" survives
    daylight saving."""

    origin: datetime
    time_zone: str
    pickups: np.ndarray
    dropoffs: np.ndarray

    @classmethod
    def from_trips(cls, trips: Trips, n: int, origin: datetime, hours: int, time_zone: str) -> HourlyCounts:
        zone = ZoneInfo(time_zone)
        counts = []
        for station, ts in ((trips.start_station, trips.start_s), (trips.end_station, trips.end_s)):
            keep = np.asarray(station) != OUTSIDE
            local = local_hour_index(np.asarray(ts)[keep], origin, zone)
            inside = (local >= 0) & (local < hours)
            c = np.zeros((hours, n))
            np.add.at(c, (local[inside], np.asarray(station)[keep][inside]), 1.0)
            counts.append(c)
        return cls(origin, time_zone, counts[0], counts[1])

    def local_index(self, at: datetime) -> int:
        local = at.astimezone(ZoneInfo(self.time_zone)).replace(tzinfo=None)
        return int((local - self.origin) // timedelta(hours=1))


def local_hour_index(epoch_s: np.ndarray, origin: datetime, zone: ZoneInfo) -> np.ndarray:
    """Local wall-clock hours since ``origin`` (naive, local) of POSIX seconds, each with its own UTC offset."""
    utc_hours = np.floor_divide(np.asarray(epoch_s, dtype=float), HOUR_S).astype(np.int64)
    unique, inverse = np.unique(utc_hours, return_inverse=True)
    offsets = np.array([_offset_s(int(h) * 3600, zone) for h in unique], dtype=float)
    origin_wall = (origin - datetime(1970, 1, 1)).total_seconds()  # the naive wall clock as "POSIX" seconds
    wall = unique * HOUR_S + offsets
    return ((wall - origin_wall) // HOUR_S).astype(np.int64)[inverse.reshape(-1)]


def _offset_s(epoch_s: int, zone: ZoneInfo) -> float:
    offset = datetime.fromtimestamp(epoch_s, zone).utcoffset()
    return 0.0 if offset is None else offset.total_seconds()


@dataclass
class TrailingMeanForecaster:
    """Per station, the mean count of the same weekday and hour over the previous ``weeks`` weeks; while fewer
    weeks are known (January), of the same hour over every previous day known (up to ``7 x weeks``); nothing
    known (the first day): 0.

    Honest: the target hours are ``at … at + hours - 1`` and every hour it averages is a day or more before
    its target, so it ended before ``at`` (``hours ≤ 24``); counts binned from trips that ended later (a trip
    ending after ``at`` contributes to a dropoff hour after ``at``) are never read."""

    counts: HourlyCounts
    weeks: int = 4
    name: str = "trailing 4-week mean, same weekday and hour"

    def rates(self, at: datetime, hours: int) -> tuple[np.ndarray, np.ndarray]:
        if not 1 <= hours <= 24:
            raise ValueError("hours must be in 1..24 (a day back must be before the hour)")
        first = self.counts.local_index(at)
        n = self.counts.pickups.shape[1]
        pickups, dropoffs = np.zeros((n, hours)), np.zeros((n, hours))
        for j in range(hours):
            target = first + j
            if target - 168 * self.weeks >= 0:
                lags = target - 168 * np.arange(1, self.weeks + 1)
            else:
                lags = target - 24 * np.arange(1, 7 * self.weeks + 1)
                lags = lags[lags >= 0]
            if len(lags):
                pickups[:, j] = self.counts.pickups[lags].mean(axis=0)
                dropoffs[:, j] = self.counts.dropoffs[lags].mean(axis=0)
        return pickups, dropoffs


@dataclass
class OracleForecaster:
    """The hours' actual counts: not a forecast (it reads the future), a diagnostic only. Its plan bounds what
    a better forecast could give the same planner."""

    counts: HourlyCounts
    name: str = "oracle (the hours' actual counts; not honest, a bound)"

    def rates(self, at: datetime, hours: int) -> tuple[np.ndarray, np.ndarray]:
        first = self.counts.local_index(at)
        rows = np.arange(first, first + hours)
        return self.counts.pickups[rows].T.copy(), self.counts.dropoffs[rows].T.copy()


# --- policies -----------------------------------------------------------------------------------------------


class Policy(Protocol):
    name: str

    def decide(self, at: datetime, bikes: np.ndarray) -> list[Move]:
        """The moves for the hour starting at ``at``, given the docks' counts now (a copy)."""
        ...


class NoRebalancing:
    name = "none"

    def decide(self, at: datetime, bikes: np.ndarray) -> list[Move]:
        return []


class NaivePolicy:
    """Each hour, the stations furthest from half full (``capacity // 2``) first: the largest surplus pairs
    with the largest deficit, ``min(surplus, deficit, truck capacity)`` bikes, until either side runs out.
    The pairs, in that order, go each to the truck that can still fit it in its hour (back at the depot) and
    would finish it first; a pair no truck fits is skipped. Same fleet and time model as the plan
    (:class:`Routes`)."""

    name = "naive"

    def __init__(self, network: Network, fleet: Fleet) -> None:
        self.network, self.fleet, self.routes = network, fleet, Routes(network, fleet)
        self.half = np.asarray(network.capacity, dtype=np.int64) // 2

    def pairs(self, bikes: np.ndarray) -> list[tuple[int, int, int]]:
        """(from, to, bikes) by the rule above, before the trucks' budgets."""
        dev = np.asarray(bikes, dtype=np.int64) - self.half
        surplus = [[int(i), int(dev[i])] for i in sorted(np.flatnonzero(dev > 0), key=lambda i: (-dev[i], i))]
        deficit = [[int(i), int(-dev[i])] for i in sorted(np.flatnonzero(dev < 0), key=lambda i: (dev[i], i))]
        out = []
        a = b = 0
        while a < len(surplus) and b < len(deficit):
            amount = min(surplus[a][1], deficit[b][1], self.fleet.truck_capacity)
            out.append((surplus[a][0], deficit[b][0], amount))
            surplus[a][1] -= amount
            deficit[b][1] -= amount
            a += surplus[a][1] == 0
            b += deficit[b][1] == 0
        return out

    def decide(self, at: datetime, bikes: np.ndarray) -> list[Move]:
        r, ids = self.routes, self.network.station_ids
        where = [r.depot] * self.fleet.trucks
        used = [0] * self.fleet.trucks
        moves: list[Move] = []
        orders = [0] * self.fleet.trucks
        for src, dst, amount in self.pairs(bikes):
            fits = [
                (used[t] + r.move_seconds(where[t], src, dst, amount), t)
                for t in range(self.fleet.trucks)
                if used[t] + r.move_seconds(where[t], src, dst, amount) + r.secs[dst, r.depot] <= r.budget
            ]
            if not fits:
                continue
            finish, truck = min(fits)
            used[truck], where[truck] = finish, dst
            orders[truck] += 1
            moves.append(Move(ids[src], ids[dst], amount, truck + 1, orders[truck]))
        return moves


class BikeBudget(Protocol):
    """How many bikes the plan may still schedule in the hour starting at ``at`` (a comparison "for no more
    bikes moved"); told what it did schedule."""

    def allowance(self, at: datetime, bikes: np.ndarray) -> int: ...

    def spend(self, bikes: int) -> None: ...


class SameCountsBudget:
    """Each hour, what ``policy`` would move from the plan's own counts. Nothing carries over: a strict cap,
    though the policy's decision on the plan's counts is not what it moved in its own replay."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    def allowance(self, at: datetime, bikes: np.ndarray) -> int:
        return sum(m.bikes for m in self.policy.decide(at, bikes))

    def spend(self, bikes: int) -> None:
        return None


class ReplayScheduleBudget:
    """Another policy's own replay as the bank: by the end of hour ``h`` the plan may have scheduled at most
    the bikes that policy delivered in hours ``0..h``. What the plan leaves unused carries forward, so over
    the window it schedules, and therefore carries, no more bikes than the other policy did (a load takes at
    most the scheduled bikes)."""

    def __init__(self, start: datetime, delivered_per_hour: Sequence[int]) -> None:
        self.start = start
        self.cumulative = np.cumsum(np.asarray(delivered_per_hour, dtype=np.int64))
        self.spent = 0

    def allowance(self, at: datetime, bikes: np.ndarray) -> int:
        hour = int((at - self.start) // timedelta(hours=1))
        if not 0 <= hour < len(self.cumulative):
            raise ValueError(f"{at} is outside the budget's {len(self.cumulative)} hours from {self.start}")
        return max(0, int(self.cumulative[hour]) - self.spent)

    def spend(self, bikes: int) -> None:
        self.spent += bikes


class PlanPolicy:
    """The product's hourly plan: the forecaster's rates for the next hours → :func:`station_risk` (target
    intervals at the service level) → :func:`plan_moves` with the fleet and CP-SAT's deterministic limit
    (``None``: the product's default). ``bike_budget``: caps the plan's bikes each hour (:class:`BikeBudget`),
    for a comparison at no more bikes moved. ``statuses`` counts the solver's outcomes over the hours
    (``FEASIBLE``: the limit came first; ``wall-clock stop``: the plan's wall guard did)."""

    name = "plan"

    def __init__(
        self,
        network: Network,
        fleet: Fleet,
        forecaster: Forecaster,
        risk_config: RiskConfig = RiskConfig(),  # noqa: B008  (frozen)
        time_limit_s: float | None = None,
        bike_budget: BikeBudget | None = None,
    ) -> None:
        self.network, self.fleet, self.forecaster = network, fleet, forecaster
        self.risk_config, self.time_limit_s, self.bike_budget = risk_config, time_limit_s, bike_budget
        self.statuses: dict[str, int] = {}

    def decide(self, at: datetime, bikes: np.ndarray) -> list[Move]:
        net = self.network
        pickups, dropoffs = self.forecaster.rates(at, max(self.risk_config.horizons_hours))
        risk = station_risk(bikes, net.capacity, pickups, dropoffs, self.risk_config)
        plan = plan_moves(
            net.station_ids,
            net.lat,
            net.lon,
            bikes,
            net.capacity,
            risk.target_low,
            risk.target_high,
            self.fleet,
            self.time_limit_s,
            valid=risk.valid,
            priority=failure_exposure(risk, pickups, dropoffs),
            max_bikes=None if self.bike_budget is None else self.bike_budget.allowance(at, bikes),
        )
        if self.bike_budget is not None:
            self.bike_budget.spend(sum(m.bikes for m in plan.moves))
        for key in (plan.status, "wall-clock stop") if plan.wall_clock_stop else (plan.status,):
            self.statuses[key] = self.statuses.get(key, 0) + 1
        return list(plan.moves)


# --- the replay ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyResult:
    """One policy's window: failures per station (network order) and the fleet's work."""

    policy: str
    failed_pickups: np.ndarray
    failed_returns: np.ndarray
    pickups: int  # attempted at simulated docks
    returns: int  # attempted at simulated docks (trips whose pickup did not fail)
    lost_returns: int  # dropoffs that never happened: their trip's pickup failed in this replay
    bikes_moved: int
    stops: int
    moves: int
    truck_seconds: int
    over_budget: int  # truck-hours whose route ran past the budget (0 for a policy that keeps the rules)
    decide_seconds: float
    bikes_per_hour: tuple[int, ...]  # bikes delivered in each hour of the window
    end_bikes: np.ndarray
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def failures(self) -> int:
        return int(self.failed_pickups.sum() + self.failed_returns.sum())


def replay(
    network: Network,
    events: Events,
    start: datetime,
    hours: int,
    policy: Policy,
    fleet: Fleet,
    start_bikes: np.ndarray | None = None,
    on_event: Callable[[int, float, int, int], None] | None = None,
) -> PolicyResult:
    """Replay ``events`` hour by hour from ``start_bikes`` (default :func:`start_snapshot`) with ``policy``'s
    moves (module docstring). ``on_event(hour, t, delta, station)`` sees every rider event replayed (tests)."""
    t0 = start.timestamp()
    docks = Docks.start(network.capacity, t0, start_snapshot(network.capacity) if start_bikes is None else start_bikes)
    routes = Routes(network, fleet)
    nearest = network.nearest()
    cap = docks.capacity.tolist()
    lost: set[int] = set()
    pickups = returns = lost_returns = moved = stops = n_moves = truck_seconds = over_budget = 0
    decide_seconds = 0.0
    per_hour: list[int] = []

    def place(station: int, count: int, t: float) -> None:
        """Leave ``count`` bikes at the nearest free docks to ``station`` (itself excluded)."""
        for j in nearest[station]:
            while count and docks.bikes[j] < cap[j]:
                docks.apply(j, DROPOFF, t)
                count -= 1
            if not count:
                return

    carried: dict[int, int] = {}

    def truck_stop(stop: Stop, t: float) -> int:
        """One stop's load or unload; the bikes delivered (a move counts once, at its unload)."""
        s = stop.station
        have = int(docks.bikes[s])
        if stop.bikes > 0:
            take = min(stop.bikes, have)
            docks.set_bikes(s, have - take, t)
            carried[stop.move] = take
            return 0
        load = carried.pop(stop.move, 0)
        put = min(load, cap[s] - have)
        docks.set_bikes(s, have + put, t)
        place(s, load - put, t)
        return load

    ts, deltas, stations, trips = (a.tolist() for a in (events.t, events.delta, events.station, events.trip))
    bounds = np.searchsorted(events.t, np.arange(hours + 1) * HOUR_S, side="left").tolist()
    for hour in range(hours):
        moved_before = moved
        clock = time.perf_counter()
        moves = list(policy.decide(start + timedelta(hours=hour), docks.bikes.copy()))
        decide_seconds += time.perf_counter() - clock
        schedule, totals = routes.schedule(moves)
        truck_seconds += sum(totals)
        over_budget += sum(total > routes.budget for total in totals)
        stops += len(schedule)
        n_moves += len(moves)
        # Truck stops at their second in the window (a late one at the hour's end), in time order.
        queue = [(hour * HOUR_S + min(s.second, HOUR_S), k, s) for k, s in enumerate(schedule)]
        heapq.heapify(queue)
        for e in range(bounds[hour], bounds[hour + 1]):
            t, delta, station, trip = ts[e], deltas[e], stations[e], trips[e]
            while queue and queue[0][0] <= t:
                second, _, stop = heapq.heappop(queue)
                moved += truck_stop(stop, t0 + second)
            if on_event is not None:
                on_event(hour, t, delta, station)
            if delta == PICKUP:
                pickups += 1
                if not docks.apply(station, PICKUP, t0 + t):
                    lost.add(trip)
            elif trip in lost:
                lost_returns += 1
            else:
                returns += 1
                if not docks.apply(station, DROPOFF, t0 + t):
                    place(station, 1, t0 + t)
        while queue:
            second, _, stop = heapq.heappop(queue)
            moved += truck_stop(stop, t0 + second)
        per_hour.append(moved - moved_before)
    return PolicyResult(
        policy=policy.name,
        failed_pickups=docks.failed_pickups.copy(),
        failed_returns=docks.failed_returns.copy(),
        pickups=pickups,
        returns=returns,
        lost_returns=lost_returns,
        bikes_moved=moved,
        stops=stops,
        moves=n_moves,
        truck_seconds=truck_seconds,
        over_budget=over_budget,
        decide_seconds=decide_seconds,
        bikes_per_hour=tuple(per_hour),
        end_bikes=docks.bikes.copy(),
        statuses=dict(getattr(policy, "statuses", {})),
    )
