"""How the streaming ingest job runs: its name, Dataflow's sizing and identity, dedupe, clock.

Beam's own settings, apart from :class:`~include.gcp.settings.Settings` (the names, endpoints and
event limits every part shares) and read from the same ``BIKESHARE_*`` variables the same way
(:class:`~include.gcp.settings.EnvReader`). Only the job control reads them: the launch argv
(:mod:`include.beam.control.launch`) passes them to the pipeline as flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    dedupe_ttl_seconds: int = 86_400  # how long the pipeline remembers an event_id; 0: dedupe left to the sink
    # What "now" is for the event limits: the wall clock, or (local replays of past months) the replay's
    # simulated time that the simulator sends with each message. Default: simulated locally, wall on gcp.
    clock: IngestClock = "simulated"

    def __post_init__(self) -> None:
        if self.clock not in INGEST_CLOCKS:
            raise SettingsError(f"BIKESHARE_INGEST_CLOCK={self.clock!r}: expected one of {INGEST_CLOCKS}")
        if self.max_workers < 1:
            raise SettingsError(f"BIKESHARE_DATAFLOW_MAX_WORKERS={self.max_workers}: expected a positive number")
        if self.dedupe_ttl_seconds < 0:
            raise SettingsError(
                f"BIKESHARE_INGEST_DEDUPE_TTL_SECONDS={self.dedupe_ttl_seconds}: expected 0 or more seconds"
            )

    @classmethod
    def from_env(cls, profile: Profile, environ: Mapping[str, str] | None = None) -> IngestSettings:
        """Read the ``BIKESHARE_DATAFLOW_*`` and ``BIKESHARE_INGEST_*`` variables for ``profile``."""
        read = EnvReader() if environ is None else EnvReader(environ)
        default = cls()
        return cls(
            job_name=read.text("DATAFLOW_JOB_NAME", default.job_name),
            max_workers=read.integer("DATAFLOW_MAX_WORKERS", default.max_workers),
            service_account=read.text("DATAFLOW_SERVICE_ACCOUNT", default.service_account),
            dedupe_ttl_seconds=read.integer("INGEST_DEDUPE_TTL_SECONDS", default.dedupe_ttl_seconds),
            clock=read.text("INGEST_CLOCK", "wall" if profile == "gcp" else default.clock),  # type: ignore[arg-type]
        )
