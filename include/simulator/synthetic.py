"""Synthetic load: trips between N stations with arrival rates that follow the hour of day.

For load tests, when real files are too small or too slow. Pickups are a Poisson process per
station whose rate is ``rate * HOURLY_PROFILE[hour]`` (trips per station per hour; the profile has
mean 1, with commute peaks), each trip ends at a uniformly chosen station after 3 minutes plus an
exponential duration (mean 12 minutes). Everything is drawn from one seeded generator, so the same
arguments give the same events and ids.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from include.gcp.events import Event
from include.simulator.trips import Trip, as_utc

# Relative pickup rate by hour of day (UTC hours of the stream), mean 1: night lull, commute peaks.
_RAW_PROFILE = (
    0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.2, 2.2, 2.6, 1.6, 1.0, 1.0,
    1.2, 1.2, 1.1, 1.3, 1.8, 2.5, 2.3, 1.5, 1.0, 0.8, 0.5, 0.3,
)  # fmt: skip
HOURLY_PROFILE: tuple[float, ...] = tuple(r * 24 / sum(_RAW_PROFILE) for r in _RAW_PROFILE)


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate: ``stations`` stations over ``hours`` hours from ``start`` (UTC)."""

    start: datetime
    hours: int = 24
    stations: int = 50
    rate: float = 1.0  # mean trips per station per hour (over the day)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.hours <= 0 or self.stations <= 0 or self.rate < 0:
            raise ValueError("synthetic hours and stations must be positive, rate non-negative")

    def hour_rate(self, hour_of_day: int) -> float:
        """Expected pickups per hour over all stations at this hour of day."""
        return self.stations * self.rate * HOURLY_PROFILE[hour_of_day]


def station_id(index: int) -> str:
    return f"SYN{index:04d}"


def synthetic_trips(spec: SyntheticSpec) -> list[Trip]:
    """Trips whose pickups fall in ``[start, start + hours)``, in pickup order."""
    rng = random.Random(spec.seed)
    start = as_utc(spec.start)
    assert start is not None
    trips: list[Trip] = []
    prefix = f"synthetic|{start.isoformat()}|{spec.hours}|{spec.stations}|{spec.rate}|{spec.seed}"
    for h in range(spec.hours):
        hour_start = start + timedelta(hours=h)
        rate = spec.hour_rate(hour_start.hour)
        offset = rng.expovariate(rate) if rate > 0 else 1.0
        while offset < 1.0:  # Poisson arrivals: exponential gaps (in hours) until the hour is over
            picked_up = hour_start + timedelta(hours=offset)
            duration = timedelta(minutes=3 + rng.expovariate(1 / 12))
            origin, destination = rng.randrange(spec.stations), rng.randrange(spec.stations)
            key = f"{prefix}|{len(trips)}"  # ids depend on the whole spec, not only on the seed
            trips.append(Trip(key, station_id(origin), station_id(destination), picked_up, picked_up + duration))
            offset += rng.expovariate(rate)
    return trips


def synthetic_events(spec: SyntheticSpec, trips: Sequence[Trip] | None = None) -> list[Event]:
    """The events of ``trips`` (default: :func:`synthetic_trips`) with ``ts < start + hours``, in time order."""
    start = as_utc(spec.start)
    assert start is not None
    end = start + timedelta(hours=spec.hours)
    trips = synthetic_trips(spec) if trips is None else trips
    return sorted(e for trip in trips for e in trip.events() if e.ts < end)
