"""Where replay input comes from: trip files by month in a data directory, and window bounds.

The default data directory is the setting ``trips_data_dir`` (the shared Citi Bike Jersey City
extract beside the project, ``../shared/data/citibike-jc``); the CLI and the DAG take another one
as a parameter.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from include.gcp import trip_files
from include.gcp.settings import get_settings

_MONTH = re.compile(r"^(\d{4})-?(\d{2})$")


def month_files(month: str, data_dir: str | Path | None = None) -> list[Path]:
    """The trip file(s) of ``month`` (``2019-09`` or ``201909``) in ``data_dir``.

    Citi Bike names monthly files ``[JC-]YYYYMM-citibike-tripdata.csv[.zip]``
    (:mod:`include.gcp.trip_files`). When both the zip
    and the extracted CSV are present the CSV is used (same rows, faster to read), so a month is
    never replayed twice.
    """
    match = _MONTH.match(month.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"month {month!r}: expected YYYY-MM")
    stamp = match.group(1) + match.group(2)
    directory = Path(data_dir) if data_dir else get_settings().trips_data_dir
    by_stem: dict[str, Path] = {}
    for path in trip_files.files_by_month(directory).get(stamp, []):
        stem = path.name.removesuffix(".zip").removesuffix(".csv")
        if stem not in by_stem or path.suffix == ".csv":
            by_stem[stem] = path
    if not by_stem:
        raise FileNotFoundError(f"no trip file for {month} in {directory}")
    return sorted(by_stem.values())


def parse_time(value: str | datetime | None) -> datetime | None:
    """An ISO 8601 time (``2019-09-01``, ``2019-09-01T04:00``, ``…Z``) in UTC; naive means UTC."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
