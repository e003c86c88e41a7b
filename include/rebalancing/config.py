"""What the hourly plan is configured with: the fleet, the service level, the depot (``BIKESHARE_REBALANCING_*``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from include.gcp.settings import EnvReader, SettingsError

LOCAL_MAX_STATUS_AGE_MINUTES = 24 * 60.0  # the local feed reports a station when its stock changes


@dataclass(frozen=True)
class RebalancingConfig:
    """Defaults are the issue's (2 trucks of 20 bikes, 10 % service level); the depot defaults to the stations'
    centroid. A status older than ``max_status_age_minutes`` at the plan hour is used but flagged as stale:
    30 min on gcp, where a dock reports every few minutes; a day on the local profile, whose feed (rebuilt
    from the replay) reports a station only when its stock changes, so a quiet station's status is exact."""

    trucks: int = 2
    truck_capacity: int = 20
    service_level: float = 0.10
    depot_lat: float | None = None
    depot_lon: float | None = None
    max_status_age_minutes: float = 30.0
    plan_time_limit_seconds: float | None = None  # CP-SAT deterministic seconds; None: plan.default_time_limit

    def __post_init__(self) -> None:
        if self.trucks < 0 or self.truck_capacity < 1:
            raise SettingsError(
                f"BIKESHARE_REBALANCING_TRUCKS={self.trucks}, _TRUCK_CAPACITY={self.truck_capacity}: "
                "expected trucks >= 0 and a truck capacity >= 1"
            )
        if not 0 < self.service_level < 1:
            raise SettingsError(f"BIKESHARE_REBALANCING_SERVICE_LEVEL={self.service_level}: expected 0 < level < 1")
        if (self.depot_lat is None) != (self.depot_lon is None):
            raise SettingsError("BIKESHARE_REBALANCING_DEPOT_LAT and _DEPOT_LON: set both or neither")

    @property
    def depot(self) -> tuple[float, float] | None:
        return None if self.depot_lat is None or self.depot_lon is None else (self.depot_lat, self.depot_lon)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RebalancingConfig:
        read = EnvReader() if environ is None else EnvReader(environ)
        default = cls()

        def optional(name: str) -> float | None:
            return read.number(name, 0.0) if read.text(name, "") else None

        return cls(
            trucks=read.integer("REBALANCING_TRUCKS", default.trucks),
            truck_capacity=read.integer("REBALANCING_TRUCK_CAPACITY", default.truck_capacity),
            service_level=read.number("REBALANCING_SERVICE_LEVEL", default.service_level),
            depot_lat=optional("REBALANCING_DEPOT_LAT"),
            depot_lon=optional("REBALANCING_DEPOT_LON"),
            max_status_age_minutes=read.number(
                "REBALANCING_MAX_STATUS_AGE_MINUTES",
                LOCAL_MAX_STATUS_AGE_MINUTES if read.profile() == "local" else default.max_status_age_minutes,
            ),
            plan_time_limit_seconds=optional("REBALANCING_PLAN_TIME_LIMIT_SECONDS"),
        )
