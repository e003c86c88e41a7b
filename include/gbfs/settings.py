"""Where a system's GBFS feed is and how it is read: ``BIKESHARE_GBFS_*``, read like every setting (:class:`EnvReader`).

Every system has its own feed (issue 24): :meth:`GbfsSettings.from_env` gives the one of ``Settings.system_id``.
The gcp profile reads the system's auto-discovery URL, ``gbfs_url`` of the systems table
(:mod:`include.systems`), on the wall clock; ``BIKESHARE_GBFS_URL`` still overrides it for the default system
only (the one variable of the single-system deployment). The local profile reads the local server
(:mod:`include.gbfs.server`, ``Settings.gbfs``) at ``/{system_id}/gbfs.json`` (the default system at the old
``/gbfs.json``, which that server keeps), whose feed lives in the replay's time, so its rows are judged against
the feed's own ``last_updated`` (``clock = feed``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

from include.gcp.settings import EnvReader, Settings, SettingsError, get_settings
from include.simulator.trip_data import station_information_file
from include.systems import DEFAULT_SYSTEM, get_system

FeedClock = Literal["wall", "feed"]
CITI_BIKE_GBFS_URL = "https://gbfs.citibikenyc.com/gbfs/2.3/gbfs.json"
POLL_INTERVAL = timedelta(minutes=1)  # the inventory DAG's schedule: a ttl under it counts as it
MAX_TTL = timedelta(hours=1)  # a feed cannot make the poller wait longer than this


@dataclass(frozen=True)
class GbfsSettings:
    """One system's feed and how it is read; build with :meth:`from_env` (the feed of ``Settings.system_id``)."""

    url: str  # the auto-discovery gbfs.json
    language: str = "en"
    timeout_seconds: float = 10.0  # per file: connect + read, a slow feed is a `timeout` dead letter
    clock: FeedClock = "wall"  # what a last_reported "in the future" is measured against
    lookback_hours: int = 48  # status older than this is stale (not stored); the dedupe reads this far back
    # the local server
    subscription: str = "bike-events-gbfs"  # its own subscription on the events topic
    ttl_seconds: int = 60  # the ttl it advertises
    station_information: Path = Path("station_information.json")  # the default system's snapshot (.json or .json.gz)
    # other systems' snapshots: {dir}/{system_id}/station_information.json (python -m include.simulator --country)
    station_information_dir: Path | None = None
    state_file: Path | None = None  # where it keeps its stock across restarts (None: memory only)

    def __post_init__(self) -> None:
        if self.clock not in ("wall", "feed"):
            raise SettingsError(f"BIKESHARE_GBFS_CLOCK={self.clock!r}: expected wall or feed")
        if not self.url.startswith(("http://", "https://")):
            raise SettingsError(f"BIKESHARE_GBFS_URL={self.url!r}: expected an http(s) URL of gbfs.json")
        if self.timeout_seconds <= 0 or self.lookback_hours < 1 or self.ttl_seconds < 0:
            raise SettingsError("BIKESHARE_GBFS_TIMEOUT_SECONDS, _LOOKBACK_HOURS must be positive, _TTL_SECONDS >= 0")

    @property
    def lookback(self) -> timedelta:
        return timedelta(hours=self.lookback_hours)

    @classmethod
    def from_env(cls, settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> GbfsSettings:
        s = settings or get_settings()
        read = EnvReader() if environ is None else EnvReader(environ)
        url = feed_url(s, read)
        timeout = read.text("GBFS_TIMEOUT_SECONDS", "10")
        try:
            timeout_seconds = float(timeout)
        except ValueError:
            raise SettingsError(f"BIKESHARE_GBFS_TIMEOUT_SECONDS={timeout!r}: expected seconds") from None
        return cls(
            url=url,
            language=read.text("GBFS_LANGUAGE", "en"),
            timeout_seconds=timeout_seconds,
            clock=read.text("GBFS_CLOCK", "feed" if s.is_local else "wall"),  # type: ignore[arg-type]
            lookback_hours=read.integer("GBFS_LOOKBACK_HOURS", 48),
            subscription=read.text("GBFS_SUBSCRIPTION", f"{s.topic}-gbfs"),
            ttl_seconds=read.integer("GBFS_TTL_SECONDS", 60),
            station_information=read.path("GBFS_STATION_INFORMATION", station_information_file(s.trips_data_dir)),
            station_information_dir=Path(d) if (d := read.text("GBFS_STATION_INFORMATION_DIR", "")) else None,
            state_file=s.state_dir / "gbfs" / "state.json",
        )

    def station_information_of(self, system_id: str) -> Path | None:
        """The snapshot the local server starts ``system_id``'s stations from; None: its events define them."""
        if self.station_information_dir is not None:
            own = self.station_information_dir / system_id / "station_information.json"
            if own.exists():
                return own
        return self.station_information if system_id == DEFAULT_SYSTEM else None


def feed_url(s: Settings, read: EnvReader | None = None) -> str:
    """The auto-discovery URL of ``s.system_id``'s feed (module docstring): the override, the local server's or
    the systems table's. The override is the default system's only, so no other system polls Jersey City."""
    read = read or EnvReader()
    override = read.text("GBFS_URL", "") if s.system_id == DEFAULT_SYSTEM else ""
    if override:
        return override
    if s.is_local:
        prefix = "" if s.system_id == DEFAULT_SYSTEM else f"/{s.system_id}"
        return f"{s.gbfs.url}{prefix}/gbfs.json"
    return get_system(s.system_id).gbfs_url
