"""Docks rebuilt from pickups and dropoffs: counts clamped to ``[0, capacity]``, failures counted.

Pure numpy, no I/O: the local GBFS server (:mod:`include.gbfs.server`) keeps its feed's stock with it, and
a backtest can replay a month through it without the server.

- **Start snapshot** (:func:`start_snapshot`): every station starts half full, ``capacity // 2`` bikes
  (a 19-dock station: 9). A replay has no observed stock to start from; half full is the neutral guess
  (both failure kinds equally far) and the same for every run, so replays are comparable.
- **An event** moves one bike: a pickup (``delta = -1``) at an empty dock is a *failed pickup*, a dropoff
  (``+1``) at a full dock a *failed return*; the count stays in ``[0, capacity]`` and the attempt is
  counted at the station. These are the service failures rebalancing must reduce (docs/design.md §7).
- **Unknown capacity** (:data:`UNKNOWN_CAPACITY`, e.g. a station missing from ``station_information``):
  it starts empty and is clamped below only (a count is never negative), so it is never full and never
  fails a return; its pickups at zero are still counted, but it has no empty/full spells (its stock is a
  guess). A data-quality warning for whoever feeds it, not a modelled dock (:attr:`Docks.known`): totals of
  service failures should take ``known`` stations only.
- **Empty / full spells**: since when each station has been empty (``bikes == 0``) or full
  (``bikes == capacity``), and the seconds of the spells that ended, so that "empty or full for more than
  30 min" (:meth:`Docks.long_spells`) and the minutes empty or full over a window can be read at any time.

Times are POSIX seconds (floats); events must be applied in time order per station for the spells to
add up (an earlier time than the station's spell start counts as zero seconds, never negative).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields

import numpy as np
from numpy.typing import ArrayLike

UNKNOWN_CAPACITY = -1
PICKUP = -1  # the delta of a pickup
DROPOFF = 1  # the delta of a dropoff


def start_snapshot(capacity: ArrayLike) -> np.ndarray:
    """The documented start: ``capacity // 2`` bikes per station (half full, rounded down), 0 where unknown."""
    cap = _capacity(capacity)
    return np.where(cap >= 0, cap // 2, 0).astype(np.int64)


def _capacity(capacity: ArrayLike) -> np.ndarray:
    cap = np.asarray(capacity, dtype=np.int64).reshape(-1)
    if (cap < UNKNOWN_CAPACITY).any():
        raise ValueError(f"capacity must be >= 0 or UNKNOWN_CAPACITY ({UNKNOWN_CAPACITY})")
    return cap


@dataclass
class Docks:
    """The stock of ``n`` stations (index order is the caller's) and what happened to it.

    Build with :meth:`start`; mutate with :meth:`apply` / :meth:`apply_many`. Arrays are numpy, one entry
    per station; ``empty_since`` / ``full_since`` are NaN while the station is not empty / not full.
    """

    capacity: np.ndarray  # int64; UNKNOWN_CAPACITY where unknown
    bikes: np.ndarray  # int64, in [0, capacity] (>= 0 where unknown)
    failed_pickups: np.ndarray = field(default=None)  # type: ignore[assignment]
    failed_returns: np.ndarray = field(default=None)  # type: ignore[assignment]
    empty_since: np.ndarray = field(default=None)  # type: ignore[assignment]
    full_since: np.ndarray = field(default=None)  # type: ignore[assignment]
    empty_seconds: np.ndarray = field(default=None)  # type: ignore[assignment]  # closed empty spells
    full_seconds: np.ndarray = field(default=None)  # type: ignore[assignment]  # closed full spells

    def __post_init__(self) -> None:
        self.capacity = _capacity(self.capacity)
        n = self.capacity.size
        self.bikes = np.asarray(self.bikes, dtype=np.int64).reshape(-1).copy()
        if self.bikes.size != n:
            raise ValueError(f"{self.bikes.size} bike counts for {n} stations")
        known = self.capacity >= 0
        if (self.bikes < 0).any() or (known & (self.bikes > self.capacity)).any():
            raise ValueError("bikes must be in [0, capacity] (>= 0 where the capacity is unknown)")
        for name, dtype in (
            ("failed_pickups", np.int64),
            ("failed_returns", np.int64),
            ("empty_seconds", np.float64),
            ("full_seconds", np.float64),
        ):
            value = getattr(self, name)
            setattr(self, name, np.zeros(n, dtype) if value is None else np.asarray(value, dtype).copy())
        for name in ("empty_since", "full_since"):
            value = getattr(self, name)
            setattr(self, name, np.full(n, np.nan) if value is None else np.asarray(value, np.float64).copy())

    @classmethod
    def start(cls, capacity: ArrayLike, at: float, bikes: ArrayLike | None = None) -> Docks:
        """Docks at time ``at`` holding ``bikes`` (default: :func:`start_snapshot`); spells open at ``at``."""
        cap = _capacity(capacity)
        docks = cls(cap, start_snapshot(cap) if bikes is None else bikes)
        docks.empty_since = np.where(docks.known & (docks.bikes == 0), float(at), np.nan)
        docks.full_since = np.where(docks.known & (docks.bikes == cap), float(at), np.nan)
        return docks

    @property
    def size(self) -> int:
        return int(self.capacity.size)

    @property
    def known(self) -> np.ndarray:
        """Stations whose capacity is known (modelled docks)."""
        return self.capacity >= 0

    @property
    def docks_available(self) -> np.ndarray:
        """Free docks: ``capacity - bikes``; 0 where the capacity is unknown (nothing to promise)."""
        return np.where(self.known, self.capacity - self.bikes, 0)

    def copy(self) -> Docks:
        return Docks(**{f.name: getattr(self, f.name) for f in fields(self)})

    def grow(self, capacity: ArrayLike, at: float, bikes: ArrayLike | None = None) -> Docks:
        """A copy with more stations appended (a station first seen mid-replay), started as :meth:`start` does."""
        extra = Docks.start(capacity, at, bikes)
        return Docks(**{f.name: np.concatenate([getattr(self, f.name), getattr(extra, f.name)]) for f in fields(self)})

    def apply(self, station: int, delta: int, t: float) -> bool:
        """One pickup (``-1``) or dropoff (``+1``) at ``station`` at time ``t``; False when it failed."""
        return self.apply_many([station], [delta], [t]) == (0, 0)

    def apply_many(self, stations: Sequence[int] | np.ndarray, deltas: ArrayLike, times: ArrayLike) -> tuple[int, int]:
        """Apply events in the given order; returns (failed pickups, failed returns) among them.

        A plain loop over Python ints: a clamped walk is sequential per station, and list indexing is
        ~10x faster than numpy scalar access (about 1 µs per event).
        """
        idx = np.asarray(stations, dtype=np.int64).reshape(-1).tolist()
        dl = np.asarray(deltas, dtype=np.int64).reshape(-1).tolist()
        ts = np.asarray(times, dtype=np.float64).reshape(-1).tolist()
        if not len(idx) == len(dl) == len(ts):
            raise ValueError("stations, deltas and times must have the same length")
        if any(d not in (PICKUP, DROPOFF) for d in dl):
            raise ValueError("every delta must be -1 (pickup) or +1 (dropoff)")
        n = self.size
        if any(not 0 <= i < n for i in idx):
            raise IndexError(f"station index outside 0..{n - 1}")
        cap, bikes = self.capacity.tolist(), self.bikes.tolist()
        fp, fr = self.failed_pickups.tolist(), self.failed_returns.tolist()
        e_since, f_since = self.empty_since.tolist(), self.full_since.tolist()
        e_sec, f_sec = self.empty_seconds.tolist(), self.full_seconds.tolist()
        failed_p = failed_r = 0
        for i, d, t in zip(idx, dl, ts, strict=True):
            b, c = bikes[i], cap[i]
            if d == PICKUP:
                if b == 0:
                    fp[i] += 1
                    failed_p += 1
                    continue
                if c >= 0 and b == c:  # leaves full
                    f_sec[i] += max(0.0, t - f_since[i])
                    f_since[i] = float("nan")
                b -= 1
                if b == 0 and c >= 0:
                    e_since[i] = t
            else:
                if c >= 0 and b == c:
                    fr[i] += 1
                    failed_r += 1
                    continue
                if b == 0 and c >= 0:  # leaves empty
                    e_sec[i] += max(0.0, t - e_since[i])
                    e_since[i] = float("nan")
                b += 1
                if b == c:
                    f_since[i] = t
            bikes[i] = b
        self.bikes = np.array(bikes, dtype=np.int64)
        self.failed_pickups = np.array(fp, dtype=np.int64)
        self.failed_returns = np.array(fr, dtype=np.int64)
        self.empty_since, self.full_since = np.array(e_since), np.array(f_since)
        self.empty_seconds, self.full_seconds = np.array(e_sec), np.array(f_sec)
        return failed_p, failed_r

    def set_bikes(self, station: int, bikes: int, t: float) -> None:
        """Put a count at a station (a truck's load or unload), clamped, spells kept right."""
        c = int(self.capacity[station])
        target = max(0, int(bikes) if c < 0 else min(int(bikes), c))
        current = int(self.bikes[station])
        while current != target:  # one bike at a time: the spell bookkeeping of apply, no failures possible
            self.apply(station, DROPOFF if target > current else PICKUP, t)
            current = int(self.bikes[station])

    def empty_minutes(self, now: float) -> np.ndarray:
        """Minutes each station has been empty: closed spells plus the open one up to ``now``."""
        return (self.empty_seconds + _open(self.empty_since, now)) / 60.0

    def full_minutes(self, now: float) -> np.ndarray:
        """Minutes each station has been full: closed spells plus the open one up to ``now``."""
        return (self.full_seconds + _open(self.full_since, now)) / 60.0

    def long_spells(self, now: float, limit_minutes: float = 30.0) -> tuple[np.ndarray, np.ndarray]:
        """(empty, full): masks of the stations empty / full without a break for more than ``limit_minutes``."""
        limit = limit_minutes * 60.0
        return _open(self.empty_since, now) > limit, _open(self.full_since, now) > limit


def _open(since: np.ndarray, now: float) -> np.ndarray:
    """Seconds of the open spells up to ``now`` (0 where none is open, or it opened after ``now``)."""
    return np.where(np.isnan(since), 0.0, np.maximum(0.0, now - np.nan_to_num(since, nan=now)))
