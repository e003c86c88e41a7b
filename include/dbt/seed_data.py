"""Build the dbt seeds: stations from a GBFS ``station_information.json`` and US federal holidays.

The CSVs are committed (dbt seeds must be files); this module is how they were made, so they can be
rebuilt from a newer GBFS snapshot: ``python -m include.dbt.seed_data <station_information.json>``.
"""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, timedelta
from pathlib import Path

from include.systems import DEFAULT_SYSTEM

SEEDS_DIR = Path(__file__).resolve().parent / "seeds"


def stations_rows(gbfs_path: Path, system_id: str = DEFAULT_SYSTEM) -> list[dict[str, object]]:
    """system, id, name, lat, lon, capacity of every station in the feed of ``system_id``, ordered by id."""
    stations = json.loads(gbfs_path.read_text())["data"]["stations"]
    rows = [
        {
            "system_id": system_id,
            "station_id": str(s["station_id"]),
            "name": s.get("name", ""),
            "lat": s.get("lat"),
            "lon": s.get("lon"),
            "capacity": s.get("capacity", ""),
        }
        for s in stations
    ]
    return sorted(rows, key=lambda r: str(r["station_id"]))


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th given weekday (Monday=0) of a month; n=-1 is the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """Federal rule: a Saturday holiday is observed on Friday, a Sunday one on Monday."""
    return day - timedelta(days=1) if day.weekday() == 5 else day + timedelta(days=1) if day.weekday() == 6 else day


def federal_holidays(first_year: int = 2019, last_year: int = 2026) -> list[dict[str, object]]:
    """US federal holidays (5 U.S.C. 6103) with their observed dates; Juneteenth from 2021."""
    rows = []
    for y in range(first_year, last_year + 1):
        days = [
            ("New Year's Day", date(y, 1, 1)),
            ("Birthday of Martin Luther King, Jr.", _nth_weekday(y, 1, 0, 3)),
            ("Washington's Birthday", _nth_weekday(y, 2, 0, 3)),
            ("Memorial Day", _nth_weekday(y, 5, 0, -1)),
            *([("Juneteenth National Independence Day", date(y, 6, 19))] if y >= 2021 else []),
            ("Independence Day", date(y, 7, 4)),
            ("Labor Day", _nth_weekday(y, 9, 0, 1)),
            ("Columbus Day", _nth_weekday(y, 10, 0, 2)),
            ("Veterans Day", date(y, 11, 11)),
            ("Thanksgiving Day", _nth_weekday(y, 11, 3, 4)),
            ("Christmas Day", date(y, 12, 25)),
        ]
        rows += [{"holiday_date": d, "observed_date": _observed(d), "holiday_name": n} for n, d in days]
    return rows


def write_csv(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str]) -> None:
    write_csv(SEEDS_DIR / "stations.csv", stations_rows(Path(argv[0])))
    write_csv(SEEDS_DIR / "us_federal_holidays.csv", federal_holidays())


if __name__ == "__main__":
    main(sys.argv[1:])
