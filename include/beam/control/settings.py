"""How the streaming ingest job runs: its name, Dataflow's sizing and identity, dedupe, clock.

Beam's own settings, apart from :class:`~include.gcp.settings.Settings` (the names, endpoints and
event limits every part shares) and read from the same ``BIKESHARE_*`` variables the same way
(:class:`~include.gcp.settings.EnvReader`). Only the job control reads them: the launch argv
(:mod:`include.beam.control.launch`) passes them to the pipeline as flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from include.gcp.settings import EnvReader, Profile, SettingsError

IngestClock = Literal["wall", "simulated"]
INGEST_CLOCKS: tuple[str, ...] = ("wall", "simulated")


@dataclass(frozen=True)
class IngestSettings:
    """The streaming job's settings; build with :meth:`from_env` (defaults: the local profile's)."""

    # The job is found again by this name, so a retry or a second trigger never starts a duplicate.
    job_name: str = "bikeshare-stream"
    max_workers: int = 3  # Dataflow's autoscaling ceiling
    service_account: str = ""  # the Dataflow workers' service account: required in the gcp profile
    # How long the pipeline remembers an event_id after its first arrival. None: as long as a copy of it
    # could still be accepted (the late-event limit plus the future limit); 0: dedupe left to the sink.
    dedupe_ttl_seconds: int | None = None
    # What "now" is for the event limits: the wall clock, or (local replays of past months) the replay's
    # simulated time that the simulator sends with each message. Default: simulated locally, wall on gcp.
    clock: IngestClock = "simulated"
    # The simulated clock is honoured only inside [replay_from, replay_to); outside it, and when neither
    # is set nor derivable from the trip files (include/beam/control/launch.py), the wall clock judges.
    replay_from: datetime | None = None
    replay_to: datetime | None = None

    def __post_init__(self) -> None:
        if self.clock not in INGEST_CLOCKS:
            raise SettingsError(f"BIKESHARE_INGEST_CLOCK={self.clock!r}: expected one of {INGEST_CLOCKS}")
        if self.max_workers < 1:
            raise SettingsError(f"BIKESHARE_DATAFLOW_MAX_WORKERS={self.max_workers}: expected a positive number")
        if self.replay_from and self.replay_to and self.replay_from >= self.replay_to:
            raise SettingsError(
                f"BIKESHARE_INGEST_REPLAY_FROM={self.replay_from.isoformat()} is not before "
                f"BIKESHARE_INGEST_REPLAY_TO={self.replay_to.isoformat()}"
            )
        if self.dedupe_ttl_seconds is not None and self.dedupe_ttl_seconds < 0:
            raise SettingsError(
                f"BIKESHARE_INGEST_DEDUPE_TTL_SECONDS={self.dedupe_ttl_seconds}: expected 0 or more seconds"
            )

    @classmethod
    def from_env(cls, profile: Profile, environ: Mapping[str, str] | None = None) -> IngestSettings:
        """Read the ``BIKESHARE_DATAFLOW_*`` and ``BIKESHARE_INGEST_*`` variables for ``profile``."""
        read = EnvReader() if environ is None else EnvReader(environ)
        default = cls()
        ttl = read.text("INGEST_DEDUPE_TTL_SECONDS", "")
        return cls(
            job_name=read.text("DATAFLOW_JOB_NAME", default.job_name),
            max_workers=read.integer("DATAFLOW_MAX_WORKERS", default.max_workers),
            service_account=read.text("DATAFLOW_SERVICE_ACCOUNT", default.service_account),
            dedupe_ttl_seconds=read.integer("INGEST_DEDUPE_TTL_SECONDS", 0) if ttl else None,
            clock=read.text("INGEST_CLOCK", "wall" if profile == "gcp" else default.clock),  # type: ignore[arg-type]
            replay_from=_time(read, "INGEST_REPLAY_FROM"),
            replay_to=_time(read, "INGEST_REPLAY_TO"),
        )


def _time(read: EnvReader, name: str) -> datetime | None:
    """An ISO 8601 time in UTC (naive means UTC), or None when unset."""
    raw = read.text(name, "")
    if not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise SettingsError(f"BIKESHARE_{name}={raw!r}: expected an ISO 8601 date or time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
