"""Is the risk calibrated? ``p_empty`` / ``p_full`` scored on replayed days (issue 22 §3 (b)).

The risk (:mod:`include.rebalancing.risk`) is exact for its birth-death chain; whether the chain fits the
stations is an empirical question, answered here against what the rebuilt docks did:

- **Outcomes** (:func:`replay_outcomes`): the span's pickups and dropoffs replayed through
  :class:`~include.rebalancing.inventory.Docks` from the start snapshot (half full). At each hour start ``T``:
  each station's bikes, and whether it was at 0 (empty) / at capacity (full) at some moment of ``[T, T+h]``
  for ``h`` in 1 and 3 hours. A station already at 0 at ``T`` counts as empty (the risk's convention:
  ``p_empty = 1`` at 0 bikes), likewise full. The first ``warmup`` of the replay is never scored: the
  snapshot is a guess, and a day of riders moves most stations away from it.
- **Baseline** (:func:`frequency_baseline`): each station's historical frequency of the outcome at the same
  New York hour of day, over the replayed hours after the warm-up whose window had closed by ``T`` (an
  expanding mean: no peeking, and it keeps learning through the scored span, as a fair rival should). It
  knows the station and the hour but not its bikes now: the chain must beat it to be worth its rates.
- **Scores** (:func:`brier`, :func:`reliability_bins`): the Brier score of each forecast per target and
  horizon, beside the same on the station-hours *inside* (not at that boundary at ``T``), where the chain's
  forecast is not a certainty for free; and reliability bins (10 equal-width: mean forecast, observed
  frequency, count), drawn by :func:`reliability_png`.

:func:`calibrate` combines them for given forecast rates; :func:`calibrate_version` reads a registered
model, its features and the stack's events and writes the plot and a JSON summary beside the model. Pure
parts first; the stack's I/O is imported inside the functions that need it.
"""

from __future__ import annotations

import io
import json
import logging
import math
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from include.rebalancing.inventory import DROPOFF, PICKUP, Docks
from include.rebalancing.risk import RiskConfig, station_risk
from include.systems import zone_or_default

if TYPE_CHECKING:
    from include.gcp.events import Event
    from include.gcp.settings import Settings

TARGETS = ("empty", "full")
HORIZONS = (1, 3)  # the risk's named horizons (StationRisk p_*_1h, p_*_3h)
RATE_HOURS = 3  # forecast hours the chain reads: horizons 1..3 of the rates
WARMUP = timedelta(days=1)
HISTORY = timedelta(days=28)  # calibrate_version: the baseline's history before the scored span, at most
MIN_HISTORY = timedelta(days=1)  # the baseline needs each hour of day seen once
BINS = 10
log = logging.getLogger(__name__)
HOUR = timedelta(hours=1)
RATE_COLUMNS = ("station_id", "hour", "horizon", "pickups", "dropoffs")


# --- events and the replay --------------------------------------------------------------------------------


def events_frame(events: Iterable[Event]) -> pd.DataFrame:
    """Events of the contract (:class:`include.gcp.events.Event`) as the frame :func:`replay_outcomes` reads:
    station_id, ts (UTC), delta (``PICKUP`` -1, ``DROPOFF`` +1)."""
    rows = [(e.station_id, e.ts, PICKUP if e.kind == "pickup" else DROPOFF) for e in events]
    return pd.DataFrame(
        {
            "station_id": pd.Series([r[0] for r in rows], dtype=object),
            "ts": pd.to_datetime([r[1] for r in rows], utc=True),
            "delta": np.array([r[2] for r in rows], dtype=np.int64),
        }
    )


def _utc_hour(moment: datetime, name: str) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        raise ValueError(f"{name} {moment!r} has no time zone")
    stamp = stamp.tz_convert(UTC)
    if stamp != stamp.floor("h"):
        raise ValueError(f"{name} {moment!r} is not on the hour")
    return stamp


@dataclass(frozen=True)
class Outcomes:
    """What the rebuilt docks did, hour by hour: ``hours`` (UTC hour starts, ``m``) x stations (``n``).

    ``bikes[i, s]``: the count at ``hours[i]`` (after every event before it); ``empty[h][i, s]``: it was 0 at
    some moment of ``[hours[i], hours[i] + h]``; ``full`` likewise at capacity; ``failed_pickups`` /
    ``failed_returns``: attempts in hour ``i`` at an empty / full dock (the replay disagreeing with the riders,
    who found a bike or a dock: a measure of how far the rebuilt stock is from the real one)."""

    station_ids: tuple[str, ...]
    capacity: np.ndarray
    hours: pd.DatetimeIndex
    bikes: np.ndarray
    empty: dict[int, np.ndarray]
    full: dict[int, np.ndarray]
    failed_pickups: np.ndarray
    failed_returns: np.ndarray
    events: int  # events applied (at modelled stations, in the replay's hours)
    outside_events: int  # events at stations without a capacity: not modelled, ignored


def _deltas(events: pd.DataFrame) -> np.ndarray:
    if "delta" in events:
        return np.asarray(events["delta"], dtype=np.int64)
    kind = events["kind"].astype(str).str.lower()
    if not kind.isin(("pickup", "dropoff")).all():
        raise ValueError("events: kind must be pickup or dropoff")
    return np.where(kind == "pickup", PICKUP, DROPOFF).astype(np.int64)


def replay_outcomes(
    events: pd.DataFrame,
    capacity: Mapping[str, int],
    start: datetime,
    end: datetime,
    horizons: tuple[int, ...] = HORIZONS,
) -> Outcomes:
    """Replay ``events`` (station_id, ts, and delta or kind) from the start snapshot at ``start`` and return the
    outcomes of the hours ``[start, end)``; events up to ``end + max(horizons)`` are applied, so the last
    hours' windows are complete only if ``events`` reach that far.

    Stations: those of ``capacity`` with a capacity ≥ 1 (sorted by id); events elsewhere are counted in
    ``outside_events`` and ignored. Events apply in time order, a pickup before a dropoff at the same instant
    (the order that empties rather than fills: the chain's convention is touching, so either is defensible)."""
    t0, t_end = _utc_hour(start, "start"), _utc_hour(end, "end")
    if t_end <= t0:
        raise ValueError(f"end {end!r} is not after start {start!r}")
    if not horizons or min(horizons) < 1:
        raise ValueError(f"horizons must be positive, got {horizons!r}")
    ids = tuple(sorted(str(k) for k, c in capacity.items() if c is not None and np.isfinite(c) and int(c) >= 1))
    if not ids:
        raise ValueError("no station with a capacity ≥ 1")
    index = {sid: i for i, sid in enumerate(ids)}
    cap = np.array([int(capacity[sid]) for sid in ids], dtype=np.int64)
    m = int((t_end - t0) / HOUR)
    total = m + max(horizons)  # hours replayed: the scored ones and the last one's longest window

    ts = pd.to_datetime(events["ts"], utc=True)
    secs = ((ts - t0) / pd.Timedelta(seconds=1)).to_numpy(dtype=float)
    station = events["station_id"].astype(str).map(index)
    inside = (secs >= 0) & (secs < total * 3600.0)
    known = station.notna().to_numpy()
    keep = np.flatnonzero(inside & known)
    st = station.to_numpy()[keep].astype(np.int64)
    delta, secs = _deltas(events)[keep], secs[keep]
    order = np.lexsort((delta, secs))  # by time; at the same instant a pickup (-1) first
    st, delta, secs = st[order], delta[order], secs[order]
    hour_of = (secs // 3600.0).astype(np.int64)

    docks = Docks.start(cap, at=t0.timestamp())
    bikes = np.empty((total, len(ids)), dtype=np.int64)
    low, high = np.empty_like(bikes), np.empty_like(bikes)
    failed_p, failed_r = np.zeros((total, len(ids)), np.int64), np.zeros((total, len(ids)), np.int64)
    base, k = t0.timestamp(), 0
    st_l, d_l, s_l, h_l = st.tolist(), delta.tolist(), secs.tolist(), hour_of.tolist()
    for h in range(total):
        now = docks.bikes.tolist()
        lo, hi = list(now), list(now)
        fp0, fr0 = docks.failed_pickups.copy(), docks.failed_returns.copy()
        while k < len(st_l) and h_l[k] == h:
            s = st_l[k]
            docks.apply(s, d_l[k], base + s_l[k])  # the inventory's own rules: clamps, failures, spells
            b = int(docks.bikes[s])
            lo[s], hi[s] = min(lo[s], b), max(hi[s], b)
            k += 1
        bikes[h], low[h], high[h] = now, lo, hi
        failed_p[h], failed_r[h] = docks.failed_pickups - fp0, docks.failed_returns - fr0

    empty, full = {}, {}
    for hz in horizons:  # the window [T, T+h] spans hours i..i+h-1, each with its start count and its moves
        empty[hz] = np.min([low[j : j + m] for j in range(hz)], axis=0) == 0
        full[hz] = np.max([high[j : j + m] for j in range(hz)], axis=0) == cap[None, :]
    return Outcomes(
        station_ids=ids,
        capacity=cap,
        hours=pd.date_range(t0, periods=m, freq="h"),
        bikes=bikes[:m],
        empty=empty,
        full=full,
        failed_pickups=failed_p[:m],
        failed_returns=failed_r[:m],
        events=len(st_l),
        outside_events=int((inside & ~known).sum()),
    )


# --- the baseline -----------------------------------------------------------------------------------------


def frequency_baseline(
    hours: pd.DatetimeIndex,
    outcome: np.ndarray,
    horizon: int,
    history_from: int = 0,
    time_zone: str | None = None,
) -> np.ndarray:
    """``(m, n)``: at each hour ``i``, each station's frequency of ``outcome`` at the same local hour of day over
    the hours ``j >= history_from`` whose window had closed (``hours[j] + horizon <= hours[i]``); where a
    station has none at that hour of day, its frequency over all such hours; NaN where there is none at all.

    The closing condition matters once a year: at the autumn clock change the repeated 01:00 is an hour after
    the first, whose 3-hour window is still open. ``time_zone``: the system's (None: the default system's)."""
    hours = pd.DatetimeIndex(hours)
    out = np.full(outcome.shape, np.nan)
    local_hour = hours.tz_convert(ZoneInfo(zone_or_default(time_zone))).hour.to_numpy()
    closes = hours + pd.Timedelta(hours=horizon)
    sums = np.zeros((24, outcome.shape[1]))
    counts = np.zeros(24)
    j = history_from
    for i in range(len(hours)):
        while j < i and closes[j] <= hours[i]:
            sums[local_hour[j]] += outcome[j]
            counts[local_hour[j]] += 1
            j += 1
        if counts[local_hour[i]]:
            out[i] = sums[local_hour[i]] / counts[local_hour[i]]
        elif counts.sum():
            out[i] = sums.sum(axis=0) / counts.sum()
    return out


def count_baseline(
    hours: pd.DatetimeIndex, bikes: np.ndarray, outcome: np.ndarray, horizon: int, history_from: int = 0
) -> np.ndarray:
    """``(m, n)``: a stronger rival that knows the stock: each station's frequency of ``outcome`` over the closed
    hours ``j >= history_from`` that started with the same bikes as hour ``i``; the station's frequency over all
    of them where that count was never seen; NaN where nothing has closed. Not the issue's baseline (that is
    :func:`frequency_baseline`): a diagnostic of how much of the chain's win is knowing the count at all."""
    hours = pd.DatetimeIndex(hours)
    m, n = outcome.shape
    size = int(bikes.max(initial=0)) + 1
    sums, counts = np.zeros((n, size)), np.zeros((n, size))
    all_sums, all_counts = np.zeros(n), 0
    out = np.full((m, n), np.nan)
    closes = hours + pd.Timedelta(hours=horizon)
    cols = np.arange(n)
    j = history_from
    for i in range(m):
        while j < i and closes[j] <= hours[i]:
            np.add.at(sums, (cols, bikes[j]), outcome[j])
            np.add.at(counts, (cols, bikes[j]), 1)
            all_sums, all_counts = all_sums + outcome[j], all_counts + 1
            j += 1
        if not all_counts:
            continue
        seen = counts[cols, bikes[i]]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[i] = np.where(seen > 0, sums[cols, bikes[i]] / seen, all_sums / all_counts)
    return out


# --- scores -----------------------------------------------------------------------------------------------


def brier(p: np.ndarray, outcome: np.ndarray) -> float:
    """Mean squared difference between forecast probabilities and 0/1 outcomes (NaN for none): 0 is perfect,
    0.25 is a coin's; a constant forecast of the base rate ``r`` scores ``r (1 - r)``."""
    p, o = np.asarray(p, dtype=float), np.asarray(outcome, dtype=float)
    if p.shape != o.shape:
        raise ValueError(f"forecasts and outcomes differ in shape: {p.shape} vs {o.shape}")
    return float(np.mean((p - o) ** 2)) if p.size else math.nan


@dataclass(frozen=True)
class Bins:
    """Reliability of a forecast: ``edges`` (``k + 1``), and per bin the ``count``, the ``predicted`` (mean
    forecast) and ``observed`` (outcome frequency); NaN in empty bins. Calibrated: observed ≈ predicted."""

    edges: np.ndarray
    count: np.ndarray
    predicted: np.ndarray
    observed: np.ndarray

    def gap(self) -> float:
        """Count-weighted mean |observed - predicted|: 0 on the diagonal (the calibration part of Brier's
        decomposition, in probability units)."""
        used = self.count > 0
        total = self.count[used].sum()
        if not total:
            return math.nan
        return float((self.count[used] * np.abs(self.observed[used] - self.predicted[used])).sum() / total)

    def to_dict(self) -> dict[str, list]:
        return {
            "edges": [round(float(e), 6) for e in self.edges],
            "count": [int(c) for c in self.count],
            "predicted": [_num(v) for v in self.predicted],
            "observed": [_num(v) for v in self.observed],
        }


def reliability_bins(p: np.ndarray, outcome: np.ndarray, bins: int = BINS) -> Bins:
    """``bins`` equal-width bins of ``[0, 1]`` (1.0 in the last); counts sum to the forecasts given."""
    p, o = np.asarray(p, dtype=float).ravel(), np.asarray(outcome, dtype=float).ravel()
    if p.shape != o.shape:
        raise ValueError(f"forecasts and outcomes differ in shape: {p.shape} vs {o.shape}")
    if bins < 1 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError("need bins ≥ 1 and forecasts in [0, 1]")
    which = np.minimum((p * bins).astype(np.int64), bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted = np.bincount(which, weights=p, minlength=bins) / count
        observed = np.bincount(which, weights=o, minlength=bins) / count
    return Bins(np.linspace(0.0, 1.0, bins + 1), count, predicted, observed)


@dataclass(frozen=True)
class Score:
    """One target (``empty`` / ``full``) and horizon (hours): the chain's forecast beside the baseline's.

    ``inside``: the station-hours not at that boundary at ``T``; at it the chain says 1 and is right, the
    baseline cannot know, so the all-hours Brier flatters the chain by how often stations sit there."""

    target: str
    horizon: int
    n: int
    hits: int
    brier_chain: float
    brier_baseline: float
    n_inside: int
    hits_inside: int
    brier_chain_inside: float
    brier_baseline_inside: float
    chain_bins: Bins
    baseline_bins: Bins

    @property
    def skill(self) -> float:
        """Brier skill vs the baseline: ``1 - chain / baseline``; > 0 means the chain is better."""
        return 1.0 - self.brier_chain / self.brier_baseline if self.brier_baseline else math.nan

    @property
    def skill_inside(self) -> float:
        b = self.brier_baseline_inside
        return 1.0 - self.brier_chain_inside / b if b else math.nan

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "horizon_hours": self.horizon,
            "station_hours": self.n,
            "hits": self.hits,
            "base_rate": _num(self.hits / self.n if self.n else math.nan),
            "brier_chain": _num(self.brier_chain),
            "brier_baseline": _num(self.brier_baseline),
            "skill": _num(self.skill),
            "inside": {
                "station_hours": self.n_inside,
                "hits": self.hits_inside,
                "brier_chain": _num(self.brier_chain_inside),
                "brier_baseline": _num(self.brier_baseline_inside),
                "skill": _num(self.skill_inside),
            },
            "reliability_gap_chain": _num(self.chain_bins.gap()),
            "reliability_gap_baseline": _num(self.baseline_bins.gap()),
            "bins_chain": self.chain_bins.to_dict(),
            "bins_baseline": self.baseline_bins.to_dict(),
        }


def _num(value: float) -> float | None:
    """JSON has no NaN: None stands for it."""
    return None if value is None or not np.isfinite(value) else round(float(value), 6)


@dataclass(frozen=True)
class Calibration:
    """Scores per (target, horizon), what was scored, and the station-hours themselves (``frame``: station_id,
    hour, bikes, capacity, and per target/horizon the chain's ``p_*``, the baseline's ``base_*`` and the
    outcome ``hit_*``, e.g. ``p_empty_1h``)."""

    scores: tuple[Score, ...]
    start: pd.Timestamp
    end: pd.Timestamp
    replay_from: pd.Timestamp
    warmup: timedelta
    stations: int
    hours: int
    unscored: int  # station-hours of the span in the rates but not scored: a horizon missing, or no capacity
    no_capacity: tuple[str, ...]  # stations forecast but without a capacity ≥ 1: not docks the replay models
    failed_pickups: int  # in the scored hours: riders the rebuilt stock failed (real ones did not)
    failed_returns: int
    events: int  # events in the scored hours at modelled stations
    frame: pd.DataFrame

    def score(self, target: str, horizon: int) -> Score:
        for s in self.scores:
            if (s.target, s.horizon) == (target, horizon):
                return s
        raise KeyError((target, horizon))

    def summary(self) -> dict[str, Any]:
        """JSON-ready: the span, the counts and every score with its bins."""
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "replay_from": self.replay_from.isoformat(),
            "warmup_hours": self.warmup / HOUR,
            "stations": self.stations,
            "hours": self.hours,
            "station_hours": len(self.frame),
            "unscored_station_hours": self.unscored,
            "stations_without_capacity": list(self.no_capacity),
            "events": self.events,
            "failed_pickups": self.failed_pickups,
            "failed_returns": self.failed_returns,
            "scores": [s.to_dict() for s in self.scores],
        }


def _rates_wide(rates: pd.DataFrame) -> pd.DataFrame:
    """One row per (station_id, hour) with pickups_1..3 and dropoffs_1..3; rows missing a horizon or with a
    non-finite rate are dropped (unscored)."""
    missing = [c for c in RATE_COLUMNS if c not in rates]
    if missing:
        raise ValueError(f"rates lack the columns {missing}")
    r = rates[list(RATE_COLUMNS)].copy()
    r["station_id"] = r["station_id"].astype(str)
    r["hour"] = pd.to_datetime(r["hour"], utc=True)
    r = r[r["horizon"].isin(range(1, RATE_HOURS + 1))]
    if r.duplicated(["station_id", "hour", "horizon"]).any():
        raise ValueError("rates hold two rows for one station, hour and horizon")
    wide = r.pivot(index=["station_id", "hour"], columns="horizon", values=["pickups", "dropoffs"])
    wide.columns = [f"{label}_{h}" for label, h in wide.columns]
    cols = [f"{label}_{h}" for label in ("pickups", "dropoffs") for h in range(1, RATE_HOURS + 1)]
    wide = wide.reindex(columns=cols)
    return wide[np.isfinite(wide.to_numpy(dtype=float)).all(axis=1)].reset_index()


def fill_horizons(rates: pd.DataFrame, hours: int = RATE_HOURS) -> tuple[pd.DataFrame, list[int]]:
    """Rates of a model that forecasts fewer hours: horizon 1's rates stand in for each missing horizon (the
    next hour's rates held for three hours). Returns the rates and the horizons filled."""
    present = set(pd.unique(rates["horizon"]).tolist())
    if 1 not in present:
        raise ValueError("rates hold no horizon 1")
    filled = [h for h in range(2, hours + 1) if h not in present]
    first = rates[rates["horizon"] == 1]
    extra = [first.assign(horizon=h) for h in filled]
    return pd.concat([rates, *extra], ignore_index=True), filled


def calibrate(
    events: pd.DataFrame,
    capacity: Mapping[str, int],
    rates: pd.DataFrame,
    start: datetime,
    end: datetime,
    *,
    replay_from: datetime | None = None,
    warmup: timedelta = WARMUP,
    time_zone: str | None = None,
    bins: int = BINS,
) -> Calibration:
    """Score the chain on the forecast ``rates`` over the hours ``[start, end)``.

    ``rates``: station_id, hour (``T``), horizon (1 = ``[T, T+1h)``, 2, 3), pickups, dropoffs, expected per
    hour. ``events`` (station_id, ts, delta or kind) must cover ``[replay_from, end + 3h)``; the replay starts
    at ``replay_from`` (default: the first event's hour) from the start snapshot, its first ``warmup`` is not
    used, and the baseline learns from the hours after it, so ``replay_from + warmup`` must leave at least a
    day before ``start``. Scored: every station-hour of the span with a capacity and all three horizons."""
    t_start, t_end = _utc_hour(start, "start"), _utc_hour(end, "end")
    if replay_from is None:
        if not len(events):
            raise ValueError("no events to replay")
        replay_from = pd.Timestamp(pd.to_datetime(events["ts"], utc=True).min()).floor("h").to_pydatetime()
    t_from = _utc_hour(replay_from, "replay_from")
    if warmup < timedelta(0) or warmup % HOUR:
        raise ValueError(f"warmup must be whole hours, got {warmup!r}")
    if t_from + warmup + MIN_HISTORY > t_start:
        raise ValueError(
            f"the replay from {t_from} leaves less than {MIN_HISTORY} of baseline history after its "
            f"{warmup} warm-up before {t_start}"
        )
    wide = _rates_wide(rates)
    wide = wide[(wide["hour"] >= t_start) & (wide["hour"] < t_end)]
    offered = _station_hours(rates, t_start, t_end)
    # only the stations forecast are replayed: each dock's walk is its own, and a feed's 1,600 stations would
    # cost 30 times the time of Jersey City's 50
    forecast = set(offered["station_id"])
    docks = {str(k): c for k, c in capacity.items() if str(k) in forecast}
    valid = {k for k, c in docks.items() if c is not None and np.isfinite(c) and int(c) >= 1}
    outcomes = replay_outcomes(events, docks, t_from.to_pydatetime(), t_end.to_pydatetime(), HORIZONS)
    history_from = int(warmup / HOUR)
    truth = {(t, h): (outcomes.empty if t == "empty" else outcomes.full)[h] for t in TARGETS for h in HORIZONS}
    base = {key: frequency_baseline(outcomes.hours, o, key[1], history_from, time_zone) for key, o in truth.items()}

    index = {sid: i for i, sid in enumerate(outcomes.station_ids)}
    wide = wide[wide["station_id"].isin(index.keys())]
    wide = wide.sort_values(["hour", "station_id"], kind="stable").reset_index(drop=True)
    i = ((wide["hour"] - t_from) / HOUR).to_numpy(dtype=np.int64)
    s = wide["station_id"].map(index).to_numpy(dtype=np.int64)
    span_hours = int((t_end - t_start) / HOUR)
    first = int((t_start - t_from) / HOUR)

    bikes, cap = outcomes.bikes[i, s], outcomes.capacity[s]
    pick = wide[[f"pickups_{h}" for h in range(1, RATE_HOURS + 1)]].to_numpy(dtype=float)
    drop = wide[[f"dropoffs_{h}" for h in range(1, RATE_HOURS + 1)]].to_numpy(dtype=float)
    risk = station_risk(bikes, cap, pick, drop, RiskConfig(horizons_hours=HORIZONS))
    chain = {("empty", h): risk.p_empty_by_hours[h] for h in HORIZONS} | {
        ("full", h): risk.p_full_by_hours[h] for h in HORIZONS
    }

    frame = pd.DataFrame({"station_id": wide["station_id"], "hour": wide["hour"], "bikes": bikes, "capacity": cap})
    scores = []
    for target in TARGETS:
        inside = bikes > 0 if target == "empty" else bikes < cap
        for h in HORIZONS:
            p, b, o = chain[(target, h)], base[(target, h)][i, s], truth[(target, h)][i, s]
            if np.isnan(b).any():
                raise AssertionError("the baseline has no history for a scored hour")  # the check above prevents it
            frame[f"p_{target}_{h}h"], frame[f"base_{target}_{h}h"], frame[f"hit_{target}_{h}h"] = p, b, o
            scores.append(
                Score(
                    target=target,
                    horizon=h,
                    n=len(o),
                    hits=int(o.sum()),
                    brier_chain=brier(p, o),
                    brier_baseline=brier(b, o),
                    n_inside=int(inside.sum()),
                    hits_inside=int(o[inside].sum()),
                    brier_chain_inside=brier(p[inside], o[inside]),
                    brier_baseline_inside=brier(b[inside], o[inside]),
                    chain_bins=reliability_bins(p, o, bins),
                    baseline_bins=reliability_bins(b, o, bins),
                )
            )
    span = slice(first, first + span_hours)
    return Calibration(
        scores=tuple(scores),
        start=t_start,
        end=t_end,
        replay_from=t_from,
        warmup=warmup,
        stations=int(pd.unique(s).size),
        hours=int(pd.unique(i).size),
        unscored=len(offered) - len(frame),
        no_capacity=tuple(sorted(forecast - valid)),
        failed_pickups=int(outcomes.failed_pickups[span].sum()),
        failed_returns=int(outcomes.failed_returns[span].sum()),
        events=_events_in(events, index, t_start, t_end),
        frame=frame,
    )


def _station_hours(rates: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The distinct (station_id, hour) of the rates within ``[start, end)``, whatever their horizons."""
    keys = pd.DataFrame(
        {"station_id": rates["station_id"].astype(str), "hour": pd.to_datetime(rates["hour"], utc=True)}
    )
    return keys[(keys["hour"] >= start) & (keys["hour"] < end)].drop_duplicates()


def _events_in(events: pd.DataFrame, index: Mapping[str, int], start: pd.Timestamp, end: pd.Timestamp) -> int:
    ts = pd.to_datetime(events["ts"], utc=True)
    return int(((ts >= start) & (ts < end) & events["station_id"].astype(str).isin(index.keys())).sum())


# --- the picture ------------------------------------------------------------------------------------------


def reliability_png(calibration: Calibration, title: str) -> bytes:
    """Four panels (empty / full x 1 h / 3 h): observed frequency against mean forecast per bin for the chain
    and the baseline, the diagonal (calibrated), each chain bin's count beside its point and the counts as
    bars (log scale, right axis); Brier scores in each panel's title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10.5, 9.0))
    for row, target in enumerate(TARGETS):
        for col, h in enumerate(HORIZONS):
            ax = axes[row][col]
            score = calibration.score(target, h)
            chain, base = score.chain_bins, score.baseline_bins
            centres = (chain.edges[:-1] + chain.edges[1:]) / 2
            bars = ax.twinx()
            bars.bar(centres, np.maximum(chain.count, 0.8), width=0.8 / len(centres), color="#dddddd", zorder=0)
            bars.set_yscale("log")
            bars.set_ylim(0.8, max(10.0, chain.count.max() * 30.0))
            bars.set_ylabel("station-hours per bin (chain)", fontsize=7, color="grey")
            bars.tick_params(labelsize=7, colors="grey")
            ax.set_zorder(bars.get_zorder() + 1)
            ax.patch.set_visible(False)
            ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="calibrated")
            used = chain.count > 0
            ax.plot(chain.predicted[used], chain.observed[used], color="#d62728", marker="o", label="chain")
            for x, y, c in zip(chain.predicted[used], chain.observed[used], chain.count[used], strict=True):
                ax.annotate(f"{int(c)}", (x, y), textcoords="offset points", xytext=(4, -9), fontsize=6)
            used = base.count > 0
            ax.plot(base.predicted[used], base.observed[used], color="#1f77b4", marker="s", ms=4, label="hist. freq.")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_xlabel(f"forecast p_{target} within {h} h", fontsize=8)
            ax.set_ylabel("observed frequency", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.set_title(
                f"{target}, {h} h: Brier chain {score.brier_chain:.4f} vs {score.brier_baseline:.4f}\n"
                f"(inside: {score.brier_chain_inside:.4f} vs {score.brier_baseline_inside:.4f}; "
                f"{score.n:,} station-hours, {score.hits:,} hits)",
                fontsize=8,
            )
            if row == 0 and col == 0:
                ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("\n".join(textwrap.wrap(title, 120)), fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


# --- a registered model on the stack ----------------------------------------------------------------------


def model_rates(model: Any, features: pd.DataFrame, history: pd.DataFrame | None = None) -> tuple[pd.DataFrame, int]:
    """The model's expected pickups and dropoffs per (station_id, hour = as_of, horizon), as :func:`calibrate`
    reads them, and how many horizons the model itself forecast (the rest are horizon 1's, :func:`fill_horizons`).

    ``predict_horizons`` where the model has it (horizons 2 and 3 from their own count models; ``history``:
    labels before the rows' hours, if the model needs them), else ``predict``: the next hour only."""
    if hasattr(model, "predict_horizons"):
        needs = bool(getattr(model, "needs_history", False))
        out = model.predict_horizons(features, history if needs else None)
    else:
        out = model.predict(features).assign(horizon=1)
    keys = features.loc[out.index, ["station_id", "as_of"]]
    rates = pd.DataFrame(
        {
            "station_id": keys["station_id"].astype(str).to_numpy(),
            "hour": pd.to_datetime(keys["as_of"], utc=True).to_numpy(),
            "horizon": out["horizon"].to_numpy(dtype=np.int64),
            "pickups": out["pickups"].to_numpy(dtype=float),
            "dropoffs": out["dropoffs"].to_numpy(dtype=float),
        }
    )
    rates["hour"] = pd.to_datetime(rates["hour"], utc=True)
    forecast = int(rates["horizon"].max()) if len(rates) else 0
    rates, _ = fill_horizons(rates) if len(rates) else (rates, [])
    return rates, forecast


def stack_events(since: datetime, until: datetime, settings: Settings) -> pd.DataFrame:
    """The settings' system's ``raw_events`` with ``since <= ts < until``, one row per event (the earliest
    ingested copy, as dbt's staging model keeps): station_id, ts, kind."""
    from google.cloud import bigquery

    from include.gcp import clients
    from include.gcp.tables import RAW_EVENTS

    sql = f"""
        SELECT station_id, ts_iso AS ts, LOWER(kind) AS kind
        FROM `{settings.table_id(RAW_EVENTS)}`
        WHERE ts_iso >= @since AND ts_iso < @until AND LOWER(kind) IN ('pickup', 'dropoff')
          AND system_id = @system_id
        QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id ORDER BY ingested_at, ts_iso) = 1
    """
    params = [
        bigquery.ScalarQueryParameter("since", "TIMESTAMP", since.astimezone(UTC)),
        bigquery.ScalarQueryParameter("until", "TIMESTAMP", until.astimezone(UTC)),
        bigquery.ScalarQueryParameter("system_id", "STRING", settings.system_id),
    ]
    job = clients.bigquery_client(settings).query(sql, job_config=bigquery.QueryJobConfig(query_parameters=params))
    rows = [(r["station_id"], r["ts"], r["kind"]) for r in job.result(page_size=50_000)]
    return pd.DataFrame(
        {
            "station_id": pd.Series([r[0] for r in rows], dtype=object),
            "ts": pd.to_datetime([r[1] for r in rows], utc=True),
            "kind": pd.Series([r[2] for r in rows], dtype=object),
        }
    )


def stack_capacities(settings: Settings) -> dict[str, int]:
    """Each station's capacity in the settings' system: its newest ``station_information`` row (the GBFS
    feed's), or the ``stations`` seed while that table is empty (a fresh deployment), as the plan's inventory
    reads them."""
    from google.api_core import exceptions
    from google.cloud import bigquery

    from include.gcp import clients
    from include.gcp.tables import STATION_INFORMATION, STATIONS

    client = clients.bigquery_client(settings)
    queries = (
        f"""SELECT station_id, capacity FROM `{settings.table_id(STATION_INFORMATION)}` WHERE system_id = @system_id
            QUALIFY ROW_NUMBER() OVER (PARTITION BY station_id ORDER BY fetched_at DESC) = 1""",
        f"SELECT CAST(station_id AS STRING) AS station_id, capacity FROM `{settings.table_id(STATIONS)}`",
    )
    system = bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter("system_id", "STRING", settings.system_id)]
    )
    for sql in queries:
        try:
            rows = list(client.query(sql, job_config=system if "@system_id" in sql else None).result())
        except exceptions.NotFound:
            continue
        found = {str(r["station_id"]): int(r["capacity"]) for r in rows if r["capacity"] is not None}
        if found:
            return found
    return {}


def calibrate_version(
    version: str,
    days: float,
    settings: Settings | None = None,
    *,
    start: datetime | None = None,
    history: timedelta = HISTORY,
    warmup: timedelta = WARMUP,
) -> tuple[Calibration, bytes]:
    """Calibrate a registered model's risk on the local stack and write ``risk_reliability.png`` and
    ``risk_calibration.json`` beside it (:func:`include.gcp.paths.model_risk_reliability`).

    Scored: the ``days`` from ``start`` (default the version's cut-off hour, the first it could serve: out of
    sample). Rates: the model on ``station_features_wide`` as of each hour. Events: ``raw_events`` (deduplicated),
    not the trip files: they are what the feature store and the model saw, whatever fed the stack (a replayed
    month, a synthetic one, a window of either). The replay starts ``history + warmup`` before ``start``, or at
    the first event if later; less than a day of history after the warm-up is refused."""
    from include.gcp import bucket, paths
    from include.gcp.settings import get_settings
    from include.ml import dataset, registry
    from include.ml.model import HISTORY_REACH

    s = settings or get_settings()
    model = registry.load_model(version, s)
    t_start = _utc_hour(start, "start") if start else pd.Timestamp(datetime.strptime(version, registry.VERSION_FORMAT))
    t_start = t_start.tz_localize(UTC) if t_start.tzinfo is None else t_start
    t_end = (t_start + pd.Timedelta(days=days)).floor("h")
    if t_end <= t_start:
        raise ValueError(f"days={days!r}: no hour to score")
    features = dataset.hourly_features(t_start.to_pydatetime(), t_end.to_pydatetime(), s)
    if features.empty:
        raise ValueError(f"no features as of {t_start} .. {t_end} in {s.dataset}.station_features_wide")
    labels = dataset.label_history((t_start - HISTORY_REACH).to_pydatetime(), t_end.to_pydatetime(), s)
    rates, forecast = model_rates(model, features, labels)

    events = stack_events((t_start - history - warmup).to_pydatetime(), (t_end + 3 * HOUR).to_pydatetime(), s)
    if events.empty:
        raise ValueError(f"no raw_events before {t_end + 3 * HOUR} to replay")
    first = pd.Timestamp(events["ts"].min()).floor("h")
    replay_from = max(t_start - history - warmup, first)
    result = calibrate(
        events,
        stack_capacities(s),
        rates,
        t_start.to_pydatetime(),
        t_end.to_pydatetime(),
        replay_from=replay_from.to_pydatetime(),
        warmup=warmup,
    )
    note = "" if forecast >= RATE_HOURS else f", hours +{forecast + 1}..+{RATE_HOURS} at horizon 1's rates"
    png = reliability_png(
        result, f"risk calibration of model {version}: {t_start:%Y-%m-%d %H:%M} to {t_end:%Y-%m-%d %H:%M} UTC{note}"
    )
    summary = result.summary() | {
        "model_version": version,
        "horizons_forecast": forecast,
        "horizons_from_horizon_1": list(range(forecast + 1, RATE_HOURS + 1)),
        "events_source": "raw_events (deduplicated by event_id)",
    }
    bucket.write_bytes(paths.model_risk_reliability(s.system_root, version), png, "image/png", s)
    bucket.write_bytes(
        paths.model_risk_calibration(s.system_root, version),
        json.dumps(summary, indent=2, sort_keys=True).encode(),
        "application/json",
        s,
    )
    return result, png


def calibrate_run(
    cutoff: datetime, version: str, trained: bool, validation_days: int = 7, settings: Settings | None = None
) -> dict[str, Any]:
    """The hourly run's calibration of the model it trained: its risk on the run's validation days, which that
    fit never saw (the hours ``[cutoff - validation_days, cutoff - 3 h)``: the last three lack their 3-hour
    outcome at run time). Written once per version beside the model; a rerun of the hour, or a run that reused
    a committed version or trained nothing, skips it, and so does one with too little history to replay."""
    from include.gcp import bucket, paths
    from include.gcp.settings import get_settings

    s = settings or get_settings()
    if not trained:
        return {"version": version, "skipped": "no model trained by this run"}
    if bucket.exists(paths.model_risk_calibration(s.system_root, version), s):
        return {"version": version, "skipped": "calibrated already"}
    start = cutoff - timedelta(days=validation_days)
    days = (cutoff - 3 * HOUR - start) / timedelta(days=1)
    from google.api_core.exceptions import NotFound

    try:
        result, _ = calibrate_version(version, days, s, start=start)
    except (ValueError, NotFound) as e:  # too little history, or no events yet (a young deployment): said, not failed
        log.warning("no risk calibration for %s: %s", version, e)
        return {"version": version, "skipped": str(e)}
    scores = {
        f"{score.target}_{score.horizon}h": {
            "brier_chain": _num(score.brier_chain),
            "brier_baseline": _num(score.brier_baseline),
        }
        for score in result.scores
    }
    return {"version": version, "start": start.isoformat(), "days": days, "brier": scores}
