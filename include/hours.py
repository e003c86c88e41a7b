"""The hour as a value: the unit of every hourly run (training, predictions, monitoring).

A run's hour comes from Airflow at the DAG edge, where a manual run may start at any minute:
``Hour.floor(data_interval_end)`` is the hour it falls in (a run at 09:17 is the 09:00 run). Inside,
code works on an ``Hour`` or checks a datetime with ``Hour.of``, which refuses one that is not on the
hour, so nothing floors twice, or silently. Always UTC, always a plain ``datetime``: pendulum's
(Airflow's) loses its zone on arithmetic when it holds ``timezone.utc``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)


def _plain_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return datetime.fromtimestamp(value.timestamp(), UTC)


@dataclass(frozen=True, order=True)
class Hour:
    """The hour ``[start, start + 1 h)``; ``start`` is an aware UTC datetime on the hour."""

    start: datetime

    def __post_init__(self) -> None:
        start = _plain_utc(self.start)
        if (start.minute, start.second, start.microsecond) != (0, 0, 0):
            raise ValueError(f"{start.isoformat()} is not on the hour")
        object.__setattr__(self, "start", start)

    @classmethod
    def of(cls, value: datetime | Hour) -> Hour:
        """``value`` as an hour; it must be on the hour (strict: for code inside the edge)."""
        return value if isinstance(value, Hour) else cls(value)

    @classmethod
    def floor(cls, value: datetime) -> Hour:
        """The hour ``value`` falls in (for the DAG edge: a manual run's time may be any minute)."""
        plain = _plain_utc(value)
        return cls(plain.replace(minute=0, second=0, microsecond=0))

    @property
    def end(self) -> datetime:
        return self.start + HOUR

    def __add__(self, delta: timedelta) -> Hour:
        return Hour(self.start + delta)

    def __sub__(self, delta: timedelta) -> Hour:
        return Hour(self.start - delta)

    def isoformat(self) -> str:
        return self.start.isoformat()

    def __str__(self) -> str:
        return f"{self.start:%Y-%m-%d %H:%M} UTC"
