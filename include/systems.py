"""The bike share systems this deployment serves: one row each, read from the dbt seed ``systems.csv``.

A system is the unit of the design (docs/country.md): its stations are keyed ``(system_id, station_id)``,
its local hours are in its own IANA time zone, and it has its own model, bucket paths and plan. The table
is a dbt seed so that SQL joins the zone beside the events; this module reads the same file with the
standard library, so Python never keeps a second copy. ``BIKESHARE_SYSTEMS_FILE`` points at another CSV of
the same columns (the synthetic country writes one).
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

SYSTEMS_SEED = Path(__file__).resolve().parent / "dbt" / "seeds" / "systems.csv"
SYSTEMS_FILE_VARIABLE = "BIKESHARE_SYSTEMS_FILE"
DEFAULT_SYSTEM = "citibike-jc"  # the one real system replayed here, and the id of every row written before systems
SYSTEM_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
COLUMNS = (
    "system_id",
    "name",
    "time_zone",
    "gbfs_url",
    "trip_source",
    "trucks",
    "truck_capacity",
    "depot_lat",
    "depot_lon",
    "enabled",
)


class SystemsError(ValueError):
    """The systems table is malformed, or names no such system."""


@dataclass(frozen=True)
class System:
    """One bike share system: who it is, its clock, its feed and its crews' trucks."""

    system_id: str
    name: str
    time_zone: str  # IANA, e.g. America/New_York: every local hour of this system is on this clock
    gbfs_url: str
    trip_source: str
    trucks: int = 2
    truck_capacity: int = 20
    depot_lat: float | None = None
    depot_lon: float | None = None
    enabled: bool = True

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def _row_to_system(row: Mapping[str, str], where: str) -> System:
    def number(name: str, kind: type) -> object:
        text = (row.get(name) or "").strip()
        if not text:
            return None
        try:
            return kind(text)
        except ValueError:
            raise SystemsError(f"{where}: {name}={text!r} is not a {kind.__name__}") from None

    system_id = (row.get("system_id") or "").strip()
    if not SYSTEM_ID_PATTERN.fullmatch(system_id):
        raise SystemsError(f"{where}: system_id={system_id!r} must match {SYSTEM_ID_PATTERN.pattern}")
    time_zone = (row.get("time_zone") or "").strip()
    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SystemsError(f"{where}: time_zone={time_zone!r} is not an IANA time zone") from None
    gbfs_url = (row.get("gbfs_url") or "").strip()
    if not gbfs_url.startswith(("http://", "https://")):
        raise SystemsError(f"{where}: gbfs_url={gbfs_url!r} is not an http(s) URL")
    enabled = (row.get("enabled") or "true").strip().lower()
    if enabled not in ("true", "false"):
        raise SystemsError(f"{where}: enabled={enabled!r} must be true or false")
    depot_lat, depot_lon = number("depot_lat", float), number("depot_lon", float)
    if (depot_lat is None) != (depot_lon is None):
        raise SystemsError(f"{where}: set both depot_lat and depot_lon, or neither")
    trucks, capacity = number("trucks", int), number("truck_capacity", int)
    system = System(
        system_id=system_id,
        name=(row.get("name") or system_id).strip(),
        time_zone=time_zone,
        gbfs_url=gbfs_url,
        trip_source=(row.get("trip_source") or "").strip(),
        trucks=2 if trucks is None else trucks,  # type: ignore[arg-type]
        truck_capacity=20 if capacity is None else capacity,  # type: ignore[arg-type]
        depot_lat=depot_lat,  # type: ignore[arg-type]
        depot_lon=depot_lon,  # type: ignore[arg-type]
        enabled=enabled == "true",
    )
    if system.trucks < 0 or system.truck_capacity < 1:
        raise SystemsError(f"{where}: expected trucks >= 0 and truck_capacity >= 1")
    return system


def read_systems(path: Path) -> dict[str, System]:
    """Every row of a systems CSV, by id, checked; raises :class:`SystemsError` naming the row."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in ("system_id", "time_zone", "gbfs_url") if c not in (reader.fieldnames or ())]
        if missing:
            raise SystemsError(f"{path}: missing columns {', '.join(missing)}")
        systems: dict[str, System] = {}
        for line, row in enumerate(reader, start=2):
            system = _row_to_system(row, f"{path}:{line}")
            if system.system_id in systems:
                raise SystemsError(f"{path}:{line}: system_id {system.system_id!r} appears twice")
            systems[system.system_id] = system
    if not systems:
        raise SystemsError(f"{path}: no systems")
    return systems


def systems_file(environ: Mapping[str, str] | None = None) -> Path:
    value = (os.environ if environ is None else environ).get(SYSTEMS_FILE_VARIABLE, "").strip()
    return Path(value) if value else SYSTEMS_SEED


@cache
def _systems_at(path: Path) -> dict[str, System]:
    return read_systems(path)


def all_systems() -> dict[str, System]:
    """The configured systems by id (the seed, or ``BIKESHARE_SYSTEMS_FILE``), read once per file."""
    return dict(_systems_at(systems_file()))


def enabled_system_ids() -> list[str]:
    """The ids the per-system tasks map over, in the table's order."""
    return [s.system_id for s in all_systems().values() if s.enabled]


def get_system(system_id: str = DEFAULT_SYSTEM) -> System:
    """One system by id; an unknown id is an error that lists the known ones (never a guessed default)."""
    systems = all_systems()
    try:
        return systems[system_id]
    except KeyError:
        raise SystemsError(f"no system {system_id!r} in {systems_file()} (known: {', '.join(systems)})") from None


def time_zone(system_id: str = DEFAULT_SYSTEM) -> str:
    """The system's IANA time zone: the clock of its local-hour features, calendars and crew view."""
    return get_system(system_id).time_zone


def is_known(system_id: str) -> bool:
    return system_id in all_systems()


def zone_or_default(time_zone: str | None) -> str:
    """``time_zone``, or the default system's when None: what a caller of one system (all that existed
    before the systems table, and every model saved before it) reads local hours in."""
    return time_zone or get_system(DEFAULT_SYSTEM).time_zone
