"""The crew view's data: plain frozen dataclasses, no I/O, standard library only.

Kept apart from the readers (:mod:`include.crew_view.sources`) so that ranking, "best baseline", "latest
7-day row", a truck's stops, the risk bands and the data-quality warnings are decided in one tested place,
and the renderers work on fixed shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

from include.crew_view.clock import age
from include.systems import DEFAULT_SYSTEM

MODEL = "model"  # the predictor name of the serving model in metadata.json and model_performance
WINDOW_24H = "24h"
WINDOW_7D = "7d"
# A status older than this at the plan hour is flagged: a station that stopped reporting may be offline,
# and its bike count (what the plan starts from) is a guess. The plan's own limit (RebalancingConfig's
# max_status_age_minutes) is passed in by the reader; this is its default.
STALE_STATUS = timedelta(minutes=30)
# The map's risk bands: fixed probabilities, so one extreme station cannot wash out the others' colours
# (a min-max scale would). The first edge is the default service level: below it a station is fine.
RISK_BANDS: tuple[float, ...] = (0.10, 0.25, 0.50)
_RISKS = ("p_empty_1h", "p_empty_3h", "p_full_1h", "p_full_3h")


def finite(value: float | None) -> float | None:
    """``None`` for a missing or non-finite metric (metadata.json keeps NaN for an undefined precision)."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Station:
    """One row of the stations seed (GBFS station_information)."""

    station_id: str
    name: str | None = None
    lat: float | None = None
    lon: float | None = None
    capacity: int | None = None


@dataclass(frozen=True)
class StationForecast:
    """One station's forecast for the target hour, joined with the seed (``station`` None if unknown there)."""

    station_id: str
    predicted_net_change: float
    predicted_pickups: float
    predicted_dropoffs: float
    predicted_net_change_mean: float | None = None
    station: Station | None = None

    @property
    def name(self) -> str:
        return (self.station.name if self.station else None) or "(not in the stations seed)"

    @property
    def capacity(self) -> int | None:
        return self.station.capacity if self.station else None

    @property
    def expected_net_change(self) -> float:
        """What the map's colour shows: the mean forecast, else the point forecast (older files lack the mean).

        The point forecast is an integer median, 0 for most stations in a quiet hour, which would paint the
        whole map neutral; the mean still shows which way each station leans and how strongly.
        """
        return self.predicted_net_change if self.predicted_net_change_mean is None else self.predicted_net_change_mean

    @property
    def has_position(self) -> bool:
        return self.station is not None and self.station.lat is not None and self.station.lon is not None

    def rank_key(self) -> tuple[float, float, float, str]:
        """Biggest predicted |net change| first.

        The point forecast is a Skellam median, an integer, so many stations tie (often at 0); the mean
        forecast and then the expected traffic (pickups + dropoffs) break ties, the station id last, so the
        order is stable from one page load to the next.
        """
        mean = abs(self.predicted_net_change_mean) if self.predicted_net_change_mean is not None else 0.0
        return (
            -abs(self.predicted_net_change),
            -mean,
            -(self.predicted_pickups + self.predicted_dropoffs),
            self.station_id,
        )


@dataclass(frozen=True)
class Forecast:
    """The newest predicted hour of the serving model, stations ranked (see :meth:`StationForecast.rank_key`)."""

    model_version: str
    target_hour: datetime
    generated_at: datetime | None
    path: str  # the Avro object it was read from (bucket-relative)
    stations: tuple[StationForecast, ...]

    @classmethod
    def ranked(
        cls,
        model_version: str,
        target_hour: datetime,
        generated_at: datetime | None,
        path: str,
        stations: list[StationForecast],
    ) -> Forecast:
        ranked = tuple(sorted(stations, key=StationForecast.rank_key))
        return cls(model_version, target_hour, generated_at, path, ranked)

    @property
    def unplaced(self) -> int:
        """Stations the map cannot draw (not in the seed, or no coordinates): said under the map."""
        return sum(1 for s in self.stations if not s.has_position)


@dataclass(frozen=True)
class MetricRow:
    """Validation metrics of one predictor (the model or a naive baseline) from metadata.json."""

    predictor: str
    mae: float | None
    rmse: float | None
    precision_at_10: float | None


@dataclass(frozen=True)
class ServingModel:
    """The version ``latest.json`` points at and what its metadata.json says about it."""

    version: str
    trained_at: str | None
    cutoff_hour: str | None
    promoted: bool
    gate: str | None
    metrics: tuple[MetricRow, ...]  # the model first, then the baselines in include.ml.baselines order
    has_plot: bool

    @property
    def model_metrics(self) -> MetricRow | None:
        return next((m for m in self.metrics if m.predictor == MODEL), None)

    @property
    def best_baseline(self) -> MetricRow | None:
        """The baseline with the lowest validation MAE: the one the gate had to beat."""
        rows = [m for m in self.metrics if m.predictor != MODEL and m.mae is not None]
        return min(rows, key=lambda m: m.mae) if rows else None


@dataclass(frozen=True)
class PerformanceRow:
    """One row of ``model_performance``: a predictor scored on the outcomes of the window ending at ``window_end``."""

    window_end: datetime
    window_name: str
    predictor: str
    station_hours: int | None
    mae: float | None
    rmse: float | None
    precision_at_10: float | None


@dataclass(frozen=True)
class Performance:
    """The last 7 days of ``model_performance`` (up to its newest ``window_end``), or why there is none."""

    rows: tuple[PerformanceRow, ...] = ()
    note: str | None = None  # e.g. "no live performance yet": shown instead of the chart

    @property
    def latest_7d(self) -> tuple[PerformanceRow, ...]:
        """Per predictor, its newest 7-day row; the model first, then by MAE (best baseline next)."""
        newest: dict[str, PerformanceRow] = {}
        for row in self.rows:
            if row.window_name == WINDOW_7D and (
                row.predictor not in newest or row.window_end > newest[row.predictor].window_end
            ):
                newest[row.predictor] = row
        return tuple(
            sorted(
                newest.values(),
                key=lambda r: (r.predictor != MODEL, r.mae if r.mae is not None else math.inf, r.predictor),
            )
        )

    @property
    def best_baseline(self) -> str | None:
        """The baseline to draw against the model: lowest MAE in the newest 7-day rows, else lowest mean 24-h MAE."""
        rows = [r for r in self.latest_7d if r.predictor != MODEL and r.mae is not None]
        if rows:
            return min(rows, key=lambda r: (r.mae, r.predictor)).predictor
        means: dict[str, list[float]] = {}
        for r in self.rows:
            if r.window_name == WINDOW_24H and r.predictor != MODEL and r.mae is not None:
                means.setdefault(r.predictor, []).append(r.mae)
        if not means:
            return None
        return min(means, key=lambda p: (sum(means[p]) / len(means[p]), p))

    def series(self, predictor: str, window_name: str = WINDOW_24H) -> list[tuple[datetime, float]]:
        """``(window_end, mae)`` of one predictor and window, in time order (rows without MAE left out)."""
        points = [
            (r.window_end, r.mae)
            for r in self.rows
            if r.predictor == predictor and r.window_name == window_name and r.mae is not None
        ]
        return sorted(points)


@dataclass(frozen=True)
class StationState:
    """One row of ``station_risk``: a station at the plan hour, its risks, target interval and what the plan
    leaves it with. Every number may be missing (``problem`` says why the station was not judged)."""

    station_id: str
    name: str | None = None
    lat: float | None = None
    lon: float | None = None
    capacity: int | None = None
    bikes: int | None = None
    status_reported_at: datetime | None = None
    expected_pickups_3h: float | None = None
    expected_dropoffs_3h: float | None = None
    p_empty_1h: float | None = None
    p_empty_3h: float | None = None
    p_full_1h: float | None = None
    p_full_3h: float | None = None
    target_low: int | None = None
    target_high: int | None = None
    reachable: bool | None = None
    bikes_after_plan: int | None = None
    problem: str | None = None

    def __post_init__(self) -> None:
        """NaN is "missing" (BigQuery FLOAT64 may hold it): the page must never print ``nan``."""
        for name in ("lat", "lon", "expected_pickups_3h", "expected_dropoffs_3h", *_RISKS):
            if isinstance(value := getattr(self, name), float) and not math.isfinite(value):
                object.__setattr__(self, name, None)

    @property
    def label(self) -> str:
        return self.name or f"station {self.station_id}"

    @property
    def has_position(self) -> bool:
        return self.lat is not None and self.lon is not None

    @property
    def judged(self) -> bool:
        """Risks computed. A judged station may still carry a ``problem`` (no coordinates, a stale status)."""
        return any(getattr(self, p) is not None for p in _RISKS)

    @property
    def risk_3h(self) -> float | None:
        """The larger of the two 3-hour risks (what the map's colour shows), None if not judged."""
        values = [p for p in (self.p_empty_3h, self.p_full_3h) if p is not None]
        return max(values) if values and self.judged else None

    @property
    def risk_side(self) -> str | None:
        """``empty`` or ``full``: which way the station is at risk over 3 hours (the larger risk wins)."""
        if self.risk_3h is None:
            return None
        return "empty" if (self.p_empty_3h or 0.0) >= (self.p_full_3h or 0.0) else "full"

    def issues(self, plan_hour: datetime, stale_after: timedelta = STALE_STATUS) -> tuple[str, ...]:
        """What a dispatcher should check before trusting this station's line, in plain words: what the row's
        fields show, then the producer's ``problem`` unless it says the same, then whether it was judged."""
        capacity = "capacity unknown" if self.capacity is None else "capacity 0 docks" if self.capacity <= 0 else None
        place = None if self.has_position else "no coordinates (not on the map)"
        status = None
        if self.bikes is None or self.status_reported_at is None:
            status = "no status: bikes on the dock unknown"
        elif plan_hour - self.status_reported_at > stale_after:
            status = f"last status {age(plan_hour - self.status_reported_at)} old"
        out = [i for i in (capacity, place, status) if i]
        said = {"capacity": capacity, "coordinates": place, "status": status}
        if self.problem and not any(word in self.problem and issue for word, issue in said.items()):
            out.append(self.problem)
        if not self.judged:
            out.append("not judged")
        elif self.reachable is False:
            out.append("no bike count keeps it safe for 3 hours: expect trouble whatever the crews do")
        return tuple(out)


def risk_band(p: float | None) -> int | None:
    """0 (below the first edge of :data:`RISK_BANDS`) to ``len(RISK_BANDS)``; None for no risk."""
    if p is None:
        return None
    return sum(1 for edge in RISK_BANDS if p >= edge)


@dataclass(frozen=True)
class Move:
    """One row of ``rebalancing_plan``: load ``bikes`` at ``from_station``, unload them at ``to_station``."""

    truck: int
    move_order: int
    from_station: str
    to_station: str
    bikes: int


@dataclass(frozen=True)
class Stop:
    """Where a truck stops: the bikes it loads and unloads there (both, when two moves meet at a station)."""

    station_id: str
    load: int = 0
    unload: int = 0
    destinations: tuple[str, ...] = ()  # where the loaded bikes go, in order (for "load 6 for Hamilton Park")

    @property
    def net(self) -> int:
        """Bikes the station gains (unloaded minus loaded)."""
        return self.unload - self.load


def stops(moves: list[Move] | tuple[Move, ...]) -> tuple[Stop, ...]:
    """A route's stops: each move's from and to station in ``move_order``, consecutive stops at the same
    station merged (a truck that unloads at B and then loads at B for the next move stops at B once)."""
    out: list[Stop] = []
    for m in sorted(moves, key=lambda m: m.move_order):
        for stop in (
            Stop(m.from_station, load=m.bikes, destinations=(m.to_station,)),
            Stop(m.to_station, unload=m.bikes),
        ):
            if out and out[-1].station_id == stop.station_id:
                last = out[-1]
                out[-1] = Stop(
                    last.station_id,
                    last.load + stop.load,
                    last.unload + stop.unload,
                    last.destinations + stop.destinations,
                )
            else:
                out.append(stop)
    return tuple(out)


@dataclass(frozen=True)
class Route:
    """One truck's moves in ``move_order``."""

    truck: int
    moves: tuple[Move, ...]

    @property
    def stops(self) -> tuple[Stop, ...]:
        return stops(self.moves)

    @property
    def bikes(self) -> int:
        return sum(m.bikes for m in self.moves)


@dataclass(frozen=True)
class StationWarning:
    """A station a dispatcher should check, and why (:meth:`StationState.issues`)."""

    station_id: str
    name: str
    issues: tuple[str, ...]
    in_plan: bool


@dataclass(frozen=True)
class Plan:
    """One served plan hour: every station's state and the trucks' routes."""

    hour: datetime
    stations: tuple[StationState, ...]
    routes: tuple[Route, ...]
    generated_at: datetime | None = None
    model_version: str | None = None
    service_level: float | None = None
    stale_after: timedelta = STALE_STATUS  # a status older than this at the hour is flagged

    @classmethod
    def of(
        cls,
        hour: datetime,
        stations: list[StationState],
        moves: list[Move],
        generated_at: datetime | None = None,
        model_version: str | None = None,
        service_level: float | None = None,
        stale_after: timedelta = STALE_STATUS,
    ) -> Plan:
        """Group ``moves`` into routes by truck (truck order, then move order)."""
        trucks: dict[int, list[Move]] = {}
        for m in moves:
            trucks.setdefault(m.truck, []).append(m)
        routes = tuple(Route(t, tuple(sorted(ms, key=lambda m: m.move_order))) for t, ms in sorted(trucks.items()))
        return cls(hour, tuple(stations), routes, generated_at, model_version, service_level, stale_after)

    def station(self, station_id: str) -> StationState | None:
        return self._by_id.get(station_id)

    @cached_property
    def _by_id(self) -> dict[str, StationState]:
        return {s.station_id: s for s in self.stations}

    def name(self, station_id: str) -> str:
        s = self.station(station_id)
        return s.label if s else f"station {station_id}"

    @property
    def moves(self) -> tuple[Move, ...]:
        return tuple(m for r in self.routes for m in r.moves)

    @property
    def planned(self) -> frozenset[str]:
        """Stations a truck stops at."""
        return frozenset(sid for m in self.moves for sid in (m.from_station, m.to_station))

    @property
    def ranked(self) -> tuple[StationState, ...]:
        """The table's order: the larger 3-hour risk first, stations not judged last, then by name."""
        return tuple(
            sorted(
                self.stations,
                key=lambda s: (s.risk_3h is None, -(s.risk_3h or 0.0), s.label.lower(), s.station_id),
            )
        )

    @property
    def warnings(self) -> tuple[StationWarning, ...]:
        """Stations with a data-quality issue or out of reach, the plan's first; plus a move naming a station
        that ``station_risk`` does not have."""
        known = self._by_id
        out = [
            StationWarning(s.station_id, s.label, issues, s.station_id in self.planned)
            for s in self.stations
            if (issues := s.issues(self.hour, self.stale_after))
        ]
        out += [
            StationWarning(sid, f"station {sid}", ("in a move but not in station_risk: nothing known about it",), True)
            for sid in sorted(self.planned - set(known))
        ]
        return tuple(sorted(out, key=lambda w: (not w.in_plan, w.name.lower(), w.station_id)))


@dataclass(frozen=True)
class CrewView:
    """Everything the page shows. A section that could not be read is None (or empty) and its reason is in
    ``problems``, so one missing source never takes the whole page down."""

    serving: ServingModel | None
    forecast: Forecast | None
    performance: Performance
    env: str
    profile: str
    rendered_at: datetime
    problems: dict[str, str] = field(default_factory=dict)
    plan: Plan | None = None
    hours: tuple[datetime, ...] = ()  # the served plan hours, newest first (the hour picker)
    notes: tuple[str, ...] = ()  # e.g. "no plan for the hour asked for": said above the plan
    system_id: str = DEFAULT_SYSTEM  # the system shown: its plan, its clock (issue 24)
    systems: tuple[tuple[str, str], ...] = ()  # (id, name) of every system, for the system picker
