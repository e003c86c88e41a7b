"""The crew view's data: plain frozen dataclasses, no I/O, standard library only.

Kept apart from the readers (:mod:`include.crew_view.sources`) so that ranking, "best baseline" and
"latest 7-day row" are decided in one tested place, and the renderers work on fixed shapes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

MODEL = "model"  # the predictor name of the serving model in metadata.json and model_performance
WINDOW_24H = "24h"
WINDOW_7D = "7d"


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
