"""Citi Bike's monthly trip files: their names, and which months a folder holds.

Citi Bike names them ``[JC-]YYYYMM-citibike-tripdata.csv[.zip]`` (newer ones
``YYYYMM-citibike-tripdata.zip``). The simulator reads them (:mod:`include.simulator.sources`); the
ingest bounds the replay clock by the months they cover (:func:`covered_range`), so a publisher
cannot pick the clock its events are judged against.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

FILE_NAME = re.compile(r"^(?:[A-Za-z]+-)?(\d{4})(\d{2})-citibike-tripdata\.(?:csv|zip|csv\.zip)$")
# Trip times are New York wall clock; in UTC a month's trips reach a few hours into the next month.
_TIME_ZONE_MARGIN = timedelta(days=1)


def month_of(path: Path) -> str | None:
    """``YYYYMM`` of a trip file's name, or None for any other file."""
    match = FILE_NAME.match(path.name)
    return match.group(1) + match.group(2) if match and 1 <= int(match.group(2)) <= 12 else None


def files_by_month(directory: Path) -> dict[str, list[Path]]:
    """``YYYYMM`` → the trip files of that month in ``directory`` (none if it does not exist)."""
    found: dict[str, list[Path]] = {}
    for path in sorted(directory.glob("*citibike-tripdata*")) if directory.is_dir() else []:
        if (month := month_of(path)) is not None:
            found.setdefault(month, []).append(path)
    return found


def covered_range(directory: Path, also: Iterable[str] = ()) -> tuple[datetime, datetime] | None:
    """UTC times the trips in ``directory`` can have: from a day before its first month to a day
    after its last; None when it holds no trip file. ``also``: months (``YYYYMM``) that are read from
    there though not in it yet (the download cache fetches its pinned months on first use)."""
    months = sorted({*files_by_month(directory), *also})
    if not months:
        return None
    first = datetime(int(months[0][:4]), int(months[0][4:]), 1, tzinfo=UTC)
    last = datetime(int(months[-1][:4]), int(months[-1][4:]), 1, tzinfo=UTC)
    after_last = (last + timedelta(days=32)).replace(day=1)
    return first - _TIME_ZONE_MARGIN, after_last + _TIME_ZONE_MARGIN
