"""The synthetic country (docs/country.md §6): K bike share systems in five time zones, with trips shaped like
Jersey City's, so the pipeline can be measured at 500-5,000 stations on the same paths as the real replay.

- **Stations.** System ``k`` is ``syn-{k+1:02d}``, on the clock of :data:`ZONES` ``[k % 5]``. It takes the
  N stations of the vendored GBFS snapshot nearest to a seeded centre station (a contiguous patch, so the real
  spacing and capacities stay) translated to its zone city's centroid. With ``nyc=True`` system 0 is
  ``syn-nyc``: all 1,587 stations where they are. Station ids are the snapshot's, so they repeat across systems:
  that is what the composite ``(system_id, station_id)`` key is for.
- **Demand.** Pickups per station-hour ~ Poisson(λ_s · profile[weekday|weekend][local hour] · season(local
  day)). λ_s is lognormal, scaled so that each system's mean is Jersey City's per-station rate (a size's load is
  then the size's, not the draw's). The profiles, the season and the lognormal were fitted from the Jersey City
  trips by :func:`fit_demand` and are kept below as constants, so generating needs no trip file.
- **Flows.** Stations are residential or business. A trip from i ends at j with P(j|i) ∝ λ_j·exp(-d_ij/1.5 km),
  residential → business weighted up on weekday mornings and business → residential in the evenings, so the
  net change per station is not zero and rebalancing has work to do. Duration = d/12 km/h + 3 min + Exp(4 min).
- **Determinism.** Each (system index, UTC hour) has its own ``SeedSequence(seed, spawn_key=(k, 1, hour))``
  (its stations ``(k, 0)``): adding a system or widening the window never changes a trip already generated.

    python -m include.simulator --country 10x500 --seed 1 --out .local/country   # systems.csv + GBFS snapshots
    python -m include.simulator.country --time 10x500                            # generation speed
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from include.gcp.events import Event
from include.simulator.sources import parse_time
from include.simulator.trip_data import VENDORED_STATION_INFORMATION, load_station_information
from include.simulator.trips import Trip, as_utc
from include.systems import COLUMNS, System

# One city per zone, round robin over the systems; the centroid a sampled patch of stations is moved to.
ZONES: tuple[tuple[str, str, float, float], ...] = (
    ("America/New_York", "New York", 40.7336, -73.9900),
    ("America/Chicago", "Chicago", 41.8858, -87.6351),
    ("America/Denver", "Denver", 39.7447, -104.9918),
    ("America/Phoenix", "Phoenix", 33.4502, -112.0741),
    ("America/Los_Angeles", "Los Angeles", 34.0460, -118.2530),
)
NYC_SYSTEM_ID = "syn-nyc"
DEFAULT_GBFS_BASE = "http://127.0.0.1:8097"
DECAY_KM = 1.5  # gravity model: destination weight falls by e per 1.5 km
SPEED_KMH = 12.0
DOCKING_MIN = 3.0  # fixed minutes per trip (unlock, dock)
EXTRA_MEAN_MIN = 4.0  # exponential detour on top of the straight ride
RESIDENTIAL_SHARE = 0.6
TILT = 3.0  # commute bias: residential → business in the morning, back in the evening
MORNING, EVENING = range(6, 10), range(16, 20)  # local weekday hours of the tilt
_KM_PER_DEG_LAT = 111.32

# ---- Fitted from Jersey City, Jan-Sep 2019 (312,169 trips, 53 pickup stations), by
#      `source scripts/dev_env.sh && .venv/bin/python -m include.simulator.country --fit`
# Pickups per station-hour by local hour, weekday and weekend, relative: (5·Σweekday + 2·Σweekend) / 168 = 1.
WEEKDAY_PROFILE: tuple[float, ...] = (
    0.1173, 0.0637, 0.0350, 0.0249, 0.0561, 0.2818, 0.8693, 2.1590, 3.5104, 1.5922, 0.7971, 0.7216,
    0.8856, 0.8750, 0.7916, 0.8574, 1.2723, 2.6517, 3.0351, 2.0785, 1.3579, 0.8485, 0.5545, 0.2870,
)  # fmt: skip
WEEKEND_PROFILE: tuple[float, ...] = (
    0.2868, 0.1763, 0.1125, 0.0735, 0.0409, 0.0643, 0.1375, 0.3366, 0.7063, 0.9429, 1.3174, 1.4598,
    1.5184, 1.5841, 1.4652, 1.4751, 1.4461, 1.4426, 1.4291, 1.2394, 0.9577, 0.6439, 0.4932, 0.3417,
)  # fmt: skip
# Season by local day of year t (0-based): s0 + s1·cos(2πt/365.25) + s2·sin(2πt/365.25), mean 1 over the fitted
# days (Jan-Sep; Oct-Dec are the curve's extrapolation): 0.64 in mid-January, 1.37 in mid-August.
SEASON: tuple[float, float, float] = (0.9912, -0.2992, -0.2490)
MEAN_RATE = 0.9559  # pickups per station-hour (1.91 events): the mean of the stations' rates over their active hours
LOG_RATE_SIGMA = 1.0224  # standard deviation of the stations' log rates: their heterogeneity


@dataclass(frozen=True)
class CountrySpec:
    """K systems of N stations each (``nyc``: system 0 is the whole NYC snapshot), from one seed."""

    systems: int
    stations_per_system: int
    seed: int = 0
    nyc: bool = False

    def __post_init__(self) -> None:
        if self.systems < 1 or self.stations_per_system < 1 or self.seed < 0:
            raise ValueError("a country needs systems >= 1, stations_per_system >= 1 and seed >= 0")
        if self.stations_per_system > len(_snapshot_stations()):
            raise ValueError(f"at most {len(_snapshot_stations())} stations per system (the snapshot's)")

    def system_id(self, index: int) -> str:
        return NYC_SYSTEM_ID if self.nyc and index == 0 else f"syn-{index + 1:02d}"

    @property
    def system_ids(self) -> list[str]:
        return [self.system_id(k) for k in range(self.systems)]

    def index_of(self, system_id: str) -> int:
        try:
            return self.system_ids.index(system_id)
        except ValueError:
            raise KeyError(f"no system {system_id!r} in this country ({', '.join(self.system_ids)})") from None


def parse_size(text: str) -> tuple[int, int]:
    """``10x500`` (or with a multiplication sign, as docs/country.md writes it) → (10, 500)."""
    parts = text.lower().replace("\u00d7", "x").split("x")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"country size {text!r}: expected KxN, e.g. 10x500")
    return int(parts[0]), int(parts[1])


# ---- stations ---------------------------------------------------------------------------------------------


@cache
def _snapshot_stations() -> tuple[dict[str, Any], ...]:
    """The vendored snapshot's stations (checksum-checked by the loader), read once per process."""
    return tuple(load_station_information(VENDORED_STATION_INFORMATION)["data"]["stations"])


def _snapshot_xy() -> np.ndarray:
    """Snapshot stations as (lat, lon) degrees, shape (n, 2)."""
    return np.array([(s["lat"], s["lon"]) for s in _snapshot_stations()], dtype=float)


def _km_offsets(latlon: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """Local east/north kilometres of each point from ``origin`` (equirectangular: exact enough within 50 km)."""
    east = (latlon[:, 1] - origin[1]) * _KM_PER_DEG_LAT * math.cos(math.radians(origin[0]))
    north = (latlon[:, 0] - origin[0]) * _KM_PER_DEG_LAT
    return np.column_stack([east, north])


@dataclass(frozen=True)
class Layout:
    """One system's stations and what is drawn once for them: rates, types, destination tables."""

    system_id: str
    time_zone: str
    indices: np.ndarray  # into the snapshot
    latlon: np.ndarray  # (n, 2), where this system puts them
    rates: np.ndarray  # λ_s, pickups per hour at profile 1 and season 1
    business: np.ndarray  # bool
    km: np.ndarray  # (n, 2) east/north kilometres from the system's centroid
    cumulative: dict[str, np.ndarray]  # period → flattened row-wise CDF offset by the row number

    def distance_km(self, origins: np.ndarray, ends: np.ndarray) -> np.ndarray:
        return np.hypot(*(self.km[origins] - self.km[ends]).T)

    @property
    def station_ids(self) -> list[str]:
        snapshot = _snapshot_stations()
        return [str(snapshot[i]["station_id"]) for i in self.indices]


def _stream(spec: CountrySpec, index: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(index, *key)))


def _place(spec: CountrySpec, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Snapshot indices and coordinates of system ``index``: the whole snapshot in place for NYC, else the N
    stations nearest a random one, moved (in km, so spacing is kept) to the zone city's centroid."""
    latlon = _snapshot_xy()
    if spec.nyc and index == 0:
        return np.arange(len(latlon)), latlon
    centre = latlon[rng.integers(len(latlon))]
    distance = np.hypot(*_km_offsets(latlon, centre).T)
    chosen = np.sort(np.argsort(distance, kind="stable")[: spec.stations_per_system])
    patch = latlon[chosen]
    km = _km_offsets(patch, patch.mean(axis=0))
    _, _, lat0, lon0 = ZONES[index % len(ZONES)]
    lat = lat0 + km[:, 1] / _KM_PER_DEG_LAT
    lon = lon0 + km[:, 0] / (_KM_PER_DEG_LAT * np.cos(np.radians(lat0)))
    return chosen, np.column_stack([lat, lon])


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """Row-normalised CDFs, flattened with row i offset by i, so one ``searchsorted(cdf, i + u)`` samples row i."""
    cdf = np.cumsum(weights, axis=1)
    cdf /= cdf[:, -1:]
    cdf[:, -1] = 1.0
    return (cdf + np.arange(len(cdf))[:, None]).ravel()


@lru_cache(maxsize=32)  # 8 MB at 500 stations, 60 MB for the NYC system
def layout(spec: CountrySpec, index: int) -> Layout:
    """System ``index``'s stations, rates, types and destination tables (its own seed stream, cached)."""
    rng = _stream(spec, index, 0)
    indices, latlon = _place(spec, index, rng)
    n = len(indices)
    rates = rng.lognormal(0.0, LOG_RATE_SIGMA, n)
    rates *= MEAN_RATE / rates.mean()  # every system at Jersey City's mean: the load of a size is its own, not luck
    business = rng.random(n) >= RESIDENTIAL_SHARE
    km = _km_offsets(latlon, latlon.mean(axis=0))
    distance = np.hypot(km[:, None, 0] - km[None, :, 0], km[:, None, 1] - km[None, :, 1])
    base = rates[None, :] * np.exp(-distance / DECAY_KM)
    commute = ~business[:, None] & business[None, :]  # residential origin, business destination
    home = business[:, None] & ~business[None, :]
    cumulative = {
        "base": _cumulative(base),
        "morning": _cumulative(np.where(commute, base * TILT, base)),
        "evening": _cumulative(np.where(home, base * TILT, base)),
    }
    zone = ZONES[index % len(ZONES)][0]
    return Layout(spec.system_id(index), zone, indices, latlon, rates, business, km, cumulative)


def country_systems(spec: CountrySpec, gbfs_base_url: str = DEFAULT_GBFS_BASE) -> list[System]:
    """The systems table rows of the country; each feed at ``{base}/{system_id}/gbfs.json``."""
    base = gbfs_base_url.rstrip("/")
    systems = []
    for k in range(spec.systems):
        zone, city, lat, lon = ZONES[k % len(ZONES)]
        nyc = spec.nyc and k == 0
        systems.append(
            System(
                system_id=spec.system_id(k),
                name=f"Synthetic {'NYC (real stations)' if nyc else city} {k + 1}",
                time_zone=zone,
                gbfs_url=f"{base}/{spec.system_id(k)}/gbfs.json",
                trip_source=f"synthetic-country:{spec.systems}x{spec.stations_per_system}:seed={spec.seed}",
                depot_lat=None if nyc else lat,
                depot_lon=None if nyc else lon,
            )
        )
    return systems


def write_systems_csv(systems: Iterable[System], path: Path) -> Path:
    """The systems as a CSV of :data:`include.systems.COLUMNS`, usable as ``BIKESHARE_SYSTEMS_FILE``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(COLUMNS)
        for s in systems:
            values = {**asdict(s), "enabled": "true" if s.enabled else "false"}
            writer.writerow(["" if values[c] is None else values[c] for c in COLUMNS])
    return path


def station_information(spec: CountrySpec, system_id: str) -> dict[str, Any]:
    """A GBFS v2.3 ``station_information.json`` of one system: the snapshot's stations where this system has them."""
    lay = layout(spec, spec.index_of(system_id))
    snapshot = _snapshot_stations()
    stations = []
    for i, (lat, lon) in zip(lay.indices, lay.latlon, strict=True):
        real = snapshot[i]
        stations.append(
            {
                "station_id": str(real["station_id"]),
                "name": real["name"],
                "short_name": real.get("short_name"),
                "lat": round(float(lat), 8),
                "lon": round(float(lon), 8),
                "capacity": real["capacity"],
            }
        )
    raw = load_station_information(VENDORED_STATION_INFORMATION)
    return {"last_updated": raw["last_updated"], "ttl": raw["ttl"], "version": "2.3", "data": {"stations": stations}}


# ---- demand and trips ---------------------------------------------------------------------------------------


def season_factor(day_of_year: float) -> float:
    angle = 2 * math.pi * day_of_year / 365.25
    return max(0.05, SEASON[0] + SEASON[1] * math.cos(angle) + SEASON[2] * math.sin(angle))


def hourly_factor(local: datetime) -> float:
    """Profile · season at a local hour start: what λ_s is multiplied by."""
    profile = WEEKDAY_PROFILE if local.weekday() < 5 else WEEKEND_PROFILE
    return profile[local.hour] * season_factor(local.timetuple().tm_yday - 1 + local.hour / 24)


def _period(local: datetime) -> str:
    if local.weekday() >= 5:
        return "base"
    return "morning" if local.hour in MORNING else "evening" if local.hour in EVENING else "base"


def _hour_trips(spec: CountrySpec, lay: Layout, index: int, hour: datetime) -> list[Trip]:
    """The trips picked up in one UTC hour of one system, in pickup order (its own seed stream)."""
    rng = _stream(spec, index, 1, int(hour.timestamp()) // 3600)
    local = hour.astimezone(ZoneInfo(lay.time_zone))
    counts = rng.poisson(lay.rates * hourly_factor(local))
    origins = np.repeat(np.arange(len(counts)), counts)
    total = len(origins)
    cdf = lay.cumulative[_period(local)]
    n = len(lay.rates)
    ends = np.searchsorted(cdf, origins + rng.random(total), side="right") - origins * n
    ends = np.minimum(ends, n - 1)  # guards a float tie at a row's 1.0
    offset_ms = np.floor(rng.random(total) * 3_600_000).astype(np.int64)
    ride_min = lay.distance_km(origins, ends) / SPEED_KMH * 60 + DOCKING_MIN + rng.exponential(EXTRA_MEAN_MIN, total)
    duration_ms = np.round(ride_min * 60_000).astype(np.int64)
    order = np.lexsort((origins, offset_ms))
    ids = lay.station_ids
    stamp = f"{lay.system_id}|{hour:%Y%m%dT%H}"
    trips = []
    for n_, i in enumerate(order.tolist()):
        started = hour + timedelta(milliseconds=int(offset_ms[i]))
        ended = started + timedelta(milliseconds=int(duration_ms[i]))
        trips.append(Trip(f"{stamp}|{n_}", ids[origins[i]], ids[ends[i]], started, ended, lay.system_id))
    return trips


def _hours(start: datetime, end: datetime) -> Iterator[datetime]:
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        yield hour
        hour += timedelta(hours=1)


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start_utc, end_utc = as_utc(start), as_utc(end)
    if start_utc is None or end_utc is None:
        raise ValueError("a country window needs both ends")
    return start_utc, end_utc


def country_trips(spec: CountrySpec, start: datetime, end: datetime) -> Iterator[Trip]:
    """Every system's trips with a pickup in ``[start, end)`` (naive = UTC), ordered by pickup time."""
    start, end = _window(start, end)
    layouts = [layout(spec, k) for k in range(spec.systems)]
    for hour in _hours(start, end):
        trips = [t for k, lay in enumerate(layouts) for t in _hour_trips(spec, lay, k, hour)]
        trips.sort(key=lambda t: (t.started_at, t.system_id, t.trip_key))
        yield from (t for t in trips if start <= t.started_at < end)


def country_events(spec: CountrySpec, start: datetime, end: datetime, lookback_hours: int = 3) -> list[Event]:
    """The events with ``start <= ts < end`` in time order, cut by event time as :func:`events_from_files` does
    (dropoffs of trips picked up up to ``lookback_hours`` before ``start`` included)."""
    start, end = _window(start, end)
    trips = country_trips(spec, start - timedelta(hours=lookback_hours), end)
    return sorted(e for t in trips for e in t.events() if start <= e.ts < end)


# ---- files and CLI ------------------------------------------------------------------------------------------


def write_country(spec: CountrySpec, folder: Path, gbfs_base_url: str = DEFAULT_GBFS_BASE) -> dict[str, Any]:
    """``folder/systems.csv`` and ``folder/{system_id}/station_information.json``; returns a summary."""
    systems = country_systems(spec, gbfs_base_url)
    write_systems_csv(systems, folder / "systems.csv")
    stations = {}
    for s in systems:
        doc = station_information(spec, s.system_id)
        target = folder / s.system_id / "station_information.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(doc, separators=(",", ":")))
        stations[s.system_id] = len(doc["data"]["stations"])
    return {"folder": str(folder), "systems_file": str(folder / "systems.csv"), "stations": stations}


def summary(spec: CountrySpec, start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
    """Systems, zones, stations; with a window, the pickups per system in it."""
    out: dict[str, Any] = {
        "systems": [
            {"system_id": lay.system_id, "time_zone": lay.time_zone, "stations": len(lay.rates)}
            for lay in (layout(spec, k) for k in range(spec.systems))
        ],
        "seed": spec.seed,
    }
    if start is not None and end is not None:
        counts = Counter(t.system_id for t in country_trips(spec, start, end))
        out["window"] = {"from": _window(start, end)[0].isoformat(), "to": _window(start, end)[1].isoformat()}
        out["trips"] = dict(sorted(counts.items()))
    return out


def time_generation(spec: CountrySpec, start: datetime) -> dict[str, Any]:
    """Seconds to lay the country out and to generate one hour and one day of trips, with the load average."""
    began = time.perf_counter()
    for k in range(spec.systems):
        layout(spec, k)
    setup = time.perf_counter() - began
    figures: dict[str, Any] = {"stations": spec.systems * spec.stations_per_system, "layout_s": round(setup, 3)}
    for label, hours in (("hour", 1), ("day", 24)):
        began = time.perf_counter()
        trips = sum(1 for _ in country_trips(spec, start, start + timedelta(hours=hours)))
        figures[label] = {"trips": trips, "seconds": round(time.perf_counter() - began, 3)}
    figures["loadavg"] = [round(x, 2) for x in os.getloadavg()]
    figures["cpus"] = os.cpu_count()
    return figures


def cli(
    size: str,
    seed: int,
    nyc: bool,
    out: str | None,
    gbfs_base_url: str = DEFAULT_GBFS_BASE,
    start: str | None = None,
    end: str | None = None,
) -> int:
    """``python -m include.simulator --country KxN``: write the country's files (``out``), print its summary."""
    k, n = parse_size(size)
    spec = CountrySpec(k, n, seed, nyc)
    result = summary(spec, parse_time(start), parse_time(end))
    if out:
        result["files"] = write_country(spec, Path(out), gbfs_base_url)
    print(json.dumps(result, indent=2))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m include.simulator.country", description=__doc__.split("\n\n")[0])
    p.add_argument("--time", metavar="KxN", help="time one hour and one day of trips at this size")
    p.add_argument("--fit", action="store_true", help="fit the demand constants from the Jersey City trips")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--from",
        dest="start",
        default="2019-07-01T12:00Z",
        help="the timed window start (default: 8 am in New York, a July Monday)",
    )
    args = p.parse_args(argv)
    if args.fit:
        print(format_fit(fit_demand(jersey_city_trips())))
    if args.time:
        k, n = parse_size(args.time)
        start = parse_time(args.start)
        print(json.dumps(time_generation(CountrySpec(k, n, args.seed), start)))
    return 0


# ---- fitting (once, from the real trips; the results are the constants above) -------------------------------


@dataclass(frozen=True)
class DemandFit:
    weekday: tuple[float, ...]
    weekend: tuple[float, ...]
    season: tuple[float, float, float]
    mean_rate: float
    log_sigma: float
    station_rates: tuple[float, ...]
    trips: int


def jersey_city_trips(folder: Path | None = None) -> list[Trip]:
    """The usable trips of the nine pinned months: from ``folder`` (checked, never downloaded) or, without one,
    from :func:`include.simulator.trip_data.ensure_trip_files`."""
    from include.simulator.trip_data import ensure_trip_files, trip_files_in
    from include.simulator.trips import read_trips

    paths = trip_files_in(folder, None, provided=True) if folder else ensure_trip_files()
    return [t for path in paths for t in read_trips(path) if isinstance(t, Trip)]


def fit_demand(trips: Sequence[Trip], zone: str = "America/New_York") -> DemandFit:
    """Profiles, season and station rates of real trips (pickups only), in the trips' local time."""
    tz = ZoneInfo(zone)
    local = [t.started_at.astimezone(tz) for t in trips]
    days = sorted({d.date() for d in local})
    by_day = Counter(d.date() for d in local)
    by_type_hour = Counter((d.weekday() >= 5, d.hour) for d in local)
    n_type = Counter(d.weekday() >= 5 for d in days)
    weekday = np.array([by_type_hour[False, h] / n_type[False] for h in range(24)])
    weekend = np.array([by_type_hour[True, h] / n_type[True] for h in range(24)])
    scale = (5 * weekday.sum() + 2 * weekend.sum()) / 168
    # season: least squares on the daily counts, divided by their mean (so its mean over the fitted days is 1)
    t = np.array([d.timetuple().tm_yday - 1 for d in days], dtype=float)
    y = np.array([by_day[d] for d in days], dtype=float)
    angle = 2 * np.pi * t / 365.25
    coef, *_ = np.linalg.lstsq(np.column_stack([np.ones_like(t), np.cos(angle), np.sin(angle)]), y, rcond=None)
    first: dict[str, datetime] = {}
    last: dict[str, datetime] = {}
    pickups = Counter(t.start_station for t in trips)
    for trip in trips:
        s = trip.start_station
        first[s] = min(first.get(s, trip.started_at), trip.started_at)
        last[s] = max(last.get(s, trip.started_at), trip.started_at)
    rates = np.array(
        [pickups[s] / ((last[s] - first[s]).total_seconds() / 3600 + 1) for s in sorted(pickups)], dtype=float
    )
    return DemandFit(
        weekday=tuple(float(x) for x in weekday / scale),
        weekend=tuple(float(x) for x in weekend / scale),
        season=(float(coef[0] / y.mean()), float(coef[1] / y.mean()), float(coef[2] / y.mean())),
        mean_rate=float(rates.mean()),
        log_sigma=float(np.log(rates).std(ddof=1)),
        station_rates=tuple(float(r) for r in rates),
        trips=len(trips),
    )


def format_fit(fit: DemandFit) -> str:
    """The fit as the constants' source lines."""

    def row(values: Sequence[float]) -> str:
        return ", ".join(f"{v:.4f}" for v in values)

    return "\n".join(
        [
            f"# {fit.trips} trips, {len(fit.station_rates)} stations",
            f"WEEKDAY_PROFILE = ({row(fit.weekday)})",
            f"WEEKEND_PROFILE = ({row(fit.weekend)})",
            f"SEASON = ({row(fit.season)})",
            f"MEAN_RATE = {fit.mean_rate:.4f}",
            f"LOG_RATE_SIGMA = {fit.log_sigma:.4f}",
        ]
    )


if __name__ == "__main__":
    sys.exit(main())
