"""Pacing: send events at ``speed_up`` times event-time speed, against an injectable clock.

``speed_up = 3600`` replays one hour of trips per wall-clock second; ``None`` or ``0`` sends as fast
as possible. The wall-clock schedule is anchored at the first event, and the pacer sleeps only
until each event is due, so a slow publisher catches up instead of drifting further behind.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Pacer:
    """Blocks until an event is due on the wall clock."""

    MIN_SLEEP = 0.001  # below this, sleeping costs more than it paces

    def __init__(self, speed_up: float | None, clock: Clock | None = None) -> None:
        if speed_up is not None and speed_up < 0:
            raise ValueError(f"speed-up {speed_up}: expected a positive factor, or 0 for as fast as possible")
        self.speed_up = speed_up or None
        self.clock = clock or SystemClock()
        self._origin: tuple[datetime, float] | None = None
        self.slept = 0.0

    def wait_for(self, ts: datetime) -> None:
        if self.speed_up is None:
            return
        if self._origin is None:
            self._origin = (ts, self.clock.monotonic())
            return
        first_ts, first_wall = self._origin
        due = first_wall + (ts - first_ts).total_seconds() / self.speed_up
        delay = due - self.clock.monotonic()
        if delay >= self.MIN_SLEEP:
            self.clock.sleep(delay)
            self.slept += delay
