"""The crews' clock: how the view writes times and hours, in the system's time zone.

Crews read local wall-clock time ("7:00 am"); the pipeline keeps every hour in UTC. The view shows local
time first and UTC after it, for the engineers who match it against the tables. Each system's zone comes from
the systems table (:mod:`include.systems`); the functions take the system, defaulting to the one replayed
here. Standard library only.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

from include import systems

SYSTEM = systems.DEFAULT_SYSTEM  # the system a page shows when none is asked for: Citi Bike Jersey City

_HOUR_PARAM = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):00Z$")


@cache
def zone(system: str = SYSTEM) -> ZoneInfo:
    """The system's time zone (an unknown system is an error naming the known ones, rather than guessing UTC)."""
    return ZoneInfo(systems.time_zone(system))


def place(system: str = SYSTEM) -> str:
    """How the page names the zone: its city, the zone name's last part with spaces ("New York time")."""
    return systems.time_zone(system).rsplit("/", 1)[-1].replace("_", " ")


def local(value: datetime, system: str = SYSTEM) -> datetime:
    return value.astimezone(zone(system))


def clock(value: datetime, system: str = SYSTEM) -> str:
    """``7:00 am``, ``12:30 pm``: a crew's wall clock (no leading zero, no seconds)."""
    t = local(value, system)
    return f"{(t.hour % 12) or 12}:{t.minute:02d} {'am' if t.hour < 12 else 'pm'}"


def day(value: datetime, system: str = SYSTEM) -> str:
    """``Mon 30 Sep 2019``: the local date."""
    t = local(value, system)
    return f"{t:%a} {t.day} {t:%b %Y}"


def hour_span(hour: datetime, system: str = SYSTEM) -> str:
    """``7:00-8:00 am``, ``11:00 am-12:00 pm``: one hour on the local clock, an en dash between."""
    start, end = clock(hour, system), clock(hour + timedelta(hours=1), system)
    if start[-2:] == end[-2:]:
        start = start[:-3]
    return f"{start}\u2013{end}"


def utc(value: datetime | None) -> str:
    """``11:00 UTC``; with ``utc_day`` for the date too."""
    return f"{value.astimezone(UTC):%H:%M} UTC" if value else ""


def utc_day(value: datetime | None) -> str:
    return f"{value.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if value else ""


def when(value: datetime | None, system: str = SYSTEM) -> str:
    """``Mon 30 Sep 2019, 7:04 am (11:04 UTC)``: a moment, local first; empty for None."""
    if value is None:
        return ""
    return f"{day(value, system)}, {clock(value, system)} ({utc(value)})"


def age(delta: timedelta) -> str:
    """``45 min``, ``3 h 10 min``, ``2 days``: how old a status is, in words a crew reads at a glance."""
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{max(minutes, 0)} min"
    if minutes < 48 * 60:
        h, m = divmod(minutes, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{minutes // (24 * 60)} days"


def hour_param(hour: datetime) -> str:
    """The hour picker's value for ``hour``: ``2019-09-30T11:00Z`` (UTC, so it survives daylight saving)."""
    return f"{hour.astimezone(UTC):%Y-%m-%dT%H}:00Z"


def parse_hour(value: str) -> datetime:
    """The inverse of :func:`hour_param`; ValueError for anything else (the app answers 400)."""
    match = _HOUR_PARAM.match(value)
    if not match:
        raise ValueError(f"not an hour like 2019-09-30T11:00Z: {value[:40]!r}")
    year, month, day_, hour = (int(g) for g in match.groups())
    return datetime(year, month, day_, hour, tzinfo=UTC)
