"""Where replay input comes from: trip files by month in a data directory, and window bounds.

The default data directory is the setting ``trips_data_dir``: ``BIKESHARE_TRIPS_DATA_DIR``, or else the
cache that :mod:`include.simulator.trip_data` downloads the pinned Citi Bike Jersey City files to on
first use; the CLI and the DAG take another one as a parameter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from include.gcp import trip_files
from include.gcp.settings import get_settings
from include.simulator import trip_data


def month_files(month: str, data_dir: str | Path | None = None) -> list[Path]:
    """The trip file(s) of ``month`` (``2019-09`` or ``201909``) in ``data_dir`` (default ``trips_data_dir``).

    A pinned month (:data:`~include.simulator.trip_data.TRIP_FILES`) is its pinned file, checked by sha256:
    in the default folder it is downloaded into the cache when missing (unless that folder is
    ``BIKESHARE_TRIPS_DATA_DIR``); another folder that holds it is only checked. Any other month, or a
    pinned one that another folder holds only in another form, is looked up by Citi Bike's names
    ``[JC-]YYYYMM-citibike-tripdata.csv[.zip]`` (:mod:`include.gcp.trip_files`): when both the zip and the
    extracted CSV are present the CSV is used (same rows, faster to read), so a month is never replayed twice.
    """
    stamp = trip_data.month_stamp(month)
    settings = get_settings()
    directory = Path(data_dir) if data_dir else settings.trips_data_dir
    pinned = trip_data.TRIP_FILES.get(stamp)
    if pinned is not None and directory.resolve() == settings.trips_data_dir.resolve():
        return trip_data.trip_files_in(directory, [stamp], provided=settings.trips_data_provided)
    if pinned is not None and (directory / pinned.name).exists():
        return [trip_data.verified_file(directory / pinned.name, pinned)]
    by_stem: dict[str, Path] = {}
    for path in trip_files.files_by_month(directory).get(stamp, []):
        stem = path.name.removesuffix(".zip").removesuffix(".csv")
        if stem not in by_stem or path.suffix == ".csv":
            by_stem[stem] = path
    if not by_stem:
        raise FileNotFoundError(f"no trip file for {month} in {directory} (pinned months: {trip_data.pinned_months()})")
    return sorted(by_stem.values())


def parse_time(value: str | datetime | None) -> datetime | None:
    """An ISO 8601 time (``2019-09-01``, ``2019-09-01T04:00``, ``…Z``) in UTC; naive means UTC."""
    if value is None or value == "":
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
