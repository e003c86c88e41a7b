"""How often each system's model is refitted: hourly, daily or weekly (``BIKESHARE_TRAIN_CADENCE``).

Prediction stays hourly on the system's newest promoted model; only the fit follows the cadence. A daily
fit happens at the system's local ``BIKESHARE_TRAIN_LOCAL_HOUR`` (default 03:00, the quietest hour), a
weekly one at that hour on Mondays, in the system's own time zone, DST included: on a day where the hour
does not exist (spring forward) the first hour after it fits, where it exists twice (fall back) the first.
A system with no promoted model yet fits at any hour, so a new system serves from its first run.

Off the hourly cadence a fit never holds the hour's forecasts: they come from the model fitted before the hour,
and the hour's own fit serves from the next hour (``hourly.serving_for``; only a system's first fit is waited for).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, cast
from zoneinfo import ZoneInfo

from include.gcp.settings import EnvReader, SettingsError

Cadence = Literal["hourly", "daily", "weekly"]
CADENCES: tuple[str, ...] = ("hourly", "daily", "weekly")
MONDAY = 0


@dataclass(frozen=True)
class TrainCadence:
    """When a system's hourly run fits a new model (see the module docstring)."""

    # daily: measured as accurate as hourly on Jul-Sep 2019 at 1/24 of the fits (research/refit_cadence.py:
    # MAE -1.7 % (95 % CI -3.8..+0.5), RMSE +0.3 % (-0.7..+1.2) vs hourly; weekly +1.0 % / +0.9 %)
    cadence: Cadence = "daily"
    local_hour: int = 3
    # off the hourly cadence, how many fits may run at once across all runs (BIKESHARE_ML_FITS_AT_ONCE): 1 on the
    # 2-core machine, so the hour's path keeps a core; more on an ML queue of bigger workers
    fits_at_once: int = 1

    def __post_init__(self) -> None:
        if self.cadence not in CADENCES:
            raise SettingsError(f"BIKESHARE_TRAIN_CADENCE={self.cadence!r}: expected one of {', '.join(CADENCES)}")
        if not 0 <= self.local_hour <= 23:
            raise SettingsError(f"BIKESHARE_TRAIN_LOCAL_HOUR={self.local_hour}: expected 0..23")
        if self.fits_at_once < 1:
            raise SettingsError(f"BIKESHARE_ML_FITS_AT_ONCE={self.fits_at_once}: expected 1 or more (0 never fits)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TrainCadence:
        read = EnvReader() if environ is None else EnvReader(environ)
        return cls(
            cadence=cast(Cadence, read.text("TRAIN_CADENCE", cls.cadence)),
            local_hour=read.integer("TRAIN_LOCAL_HOUR", 3),
            fits_at_once=read.integer("ML_FITS_AT_ONCE", 1),
        )

    def fits(self, cutoff: datetime, time_zone: str) -> bool:
        """True if the run at ``cutoff`` (UTC, on the hour) is the system's fitting hour."""
        if self.cadence == "hourly":
            return True
        zone = ZoneInfo(time_zone)
        now, before = cutoff.astimezone(zone), (cutoff - timedelta(hours=1)).astimezone(zone)
        first_at_or_after = now.hour >= self.local_hour and (
            before.date() != now.date() or before.hour < self.local_hour
        )
        return first_at_or_after and (self.cadence == "daily" or now.weekday() == MONDAY)

    def describe(self, time_zone: str) -> str:
        at = f"{self.local_hour:02d}:00 {time_zone}"
        return {"hourly": "every hour", "daily": f"daily at {at}", "weekly": f"Mondays at {at}"}[self.cadence]
