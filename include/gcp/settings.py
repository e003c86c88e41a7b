"""Settings: the profile, every resource name and the endpoints, read from the environment.

:class:`Settings` holds what every part shares: the profile, the Google Cloud names and endpoints,
the event contract's time limits and the local folders. What only one part needs lives with that
part and is read the same way (:class:`EnvReader`): the streaming job's
(:class:`~include.beam.control.settings.IngestSettings`) and dbt's paths
(:class:`~include.dbt.settings.DbtSettings`).

Each variable is prefixed ``BIKESHARE_``; every one has a default that works for the ``local``
profile, so a fresh checkout runs with no configuration at all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Literal

from include.systems import DEFAULT_SYSTEM, get_system

Profile = Literal["local", "gcp"]
PROFILES: tuple[str, ...] = ("local", "gcp")
ENV_PREFIXES: tuple[str, ...] = ("dev", "prod")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TRIPS_CACHE_DIR = PROJECT_ROOT / ".local" / "data" / "citibike-jc"  # where the trip files are downloaded to


class SettingsError(ValueError):
    """A setting has a value the project cannot use; the message names the variable."""


@dataclass(frozen=True)
class EnvReader:
    """Reads ``BIKESHARE_<name>`` variables: unset or empty gives the fallback, a bad value a
    :class:`SettingsError` that names the variable. The one way every settings class reads them."""

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)

    def text(self, name: str, fallback: str) -> str:
        return self.environ.get(f"BIKESHARE_{name}", "") or fallback

    def integer(self, name: str, fallback: int) -> int:
        raw = self.text(name, str(fallback))
        try:
            return int(raw)
        except ValueError:
            raise SettingsError(f"BIKESHARE_{name}={raw!r}: expected an integer") from None

    def number(self, name: str, fallback: float) -> float:
        raw = self.text(name, str(fallback))
        try:
            value = float(raw)
        except ValueError:
            raise SettingsError(f"BIKESHARE_{name}={raw!r}: expected a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise SettingsError(f"BIKESHARE_{name}={raw!r}: expected a finite number")
        return value

    def port(self, name: str, fallback: int) -> int:
        raw = self.text(name, str(fallback))
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"BIKESHARE_{name}={raw!r}: expected a port number") from None
        if not 0 < value < 65536:
            raise SettingsError(f"BIKESHARE_{name}={raw!r}: expected a port number")
        return value

    def path(self, name: str, fallback: Path) -> Path:
        return Path(self.text(name, str(fallback)))

    def profile(self) -> str:
        """``BIKESHARE_PROFILE``, unchecked (:class:`Settings` validates it)."""
        return self.text("PROFILE", "local")


@dataclass(frozen=True)
class Endpoint:
    """Where a local emulator listens (host as seen by the clients, port)."""

    host: str
    port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"


@dataclass(frozen=True)
class Settings:
    """The names, endpoints, event limits and folders every part shares; build with :func:`get_settings`
    or ``from_env``. The streaming job's and dbt's own settings live with them (module docstring)."""

    profile: Profile = "local"
    project: str = "local-project"
    region: str = "us-east1"
    env: str = "dev"
    dataset: str = "bikeshare"
    bq_location: str = "US"
    topic: str = "bike-events"
    subscription: str = "bike-events-beam"
    bucket: str = "bikeshare-local"
    pubsub: Endpoint = field(default_factory=lambda: Endpoint("127.0.0.1", 8085))
    bigquery: Endpoint = field(default_factory=lambda: Endpoint("127.0.0.1", 9050))
    bigquery_grpc: Endpoint = field(default_factory=lambda: Endpoint("127.0.0.1", 9060))
    storage: Endpoint = field(default_factory=lambda: Endpoint("127.0.0.1", 9023))
    metadata: Endpoint = field(default_factory=lambda: Endpoint("127.0.0.1", 8095))
    # the local GBFS feed (include/gbfs/server.py), started with the emulators; gcp reads the operator's
    gbfs: Endpoint = field(default_factory=lambda: Endpoint("127.0.0.1", 8097))
    # Late events: the ingest dead-letters events older than this (``too_late``), and every features
    # run recounts this far back so that the accepted ones reach their label hour and feature as_ofs.
    late_event_limit_minutes: int = 2_880
    future_event_limit_minutes: int = 5  # ingest dead-letters events further ahead of its clock (``future_ts``)
    state_dir: Path = PROJECT_ROOT / ".local"
    gcloud_sdk_root: Path | None = None  # where to look first for the Pub/Sub emulator
    # Replay input, the Citi Bike trip files (include/simulator/trip_data.py): BIKESHARE_TRIPS_DATA_DIR, a folder
    # that holds them, used as it is (``trips_data_provided``); else the cache the pinned files are downloaded to
    # on first use (BIKESHARE_TRIPS_CACHE_DIR, default .local/data/citibike-jc).
    trips_data_dir: Path = TRIPS_CACHE_DIR
    trips_data_provided: bool = False
    # Every alert is appended here as a JSON line (include/monitoring/alerts.py); locally the channel that
    # tests read. None (the gcp default): the task log and the Slack / SMTP connections only.
    alert_log: Path | None = PROJECT_ROOT / ".local" / "alerts.jsonl"
    # The system a per-system task works on (include/systems.py): its bucket paths and the rows it writes.
    # Set with :meth:`for_system`; the default is the one system replayed here.
    system_id: str = DEFAULT_SYSTEM

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise SettingsError(f"BIKESHARE_PROFILE={self.profile!r}: expected one of {PROFILES}")
        if self.env not in ENV_PREFIXES:
            raise SettingsError(f"BIKESHARE_ENV={self.env!r}: expected one of {ENV_PREFIXES}")
        for name in ("late_event_limit_minutes", "future_event_limit_minutes"):
            if getattr(self, name) < 1:
                raise SettingsError(f"BIKESHARE_{name.upper()}={getattr(self, name)}: expected a positive number")

    def for_system(self, system_id: str) -> Settings:
        """These settings scoped to one system of the systems table (an unknown id is an error naming the known)."""
        return replace(self, system_id=get_system(system_id).system_id)

    @property
    def system_root(self) -> str:
        """``{env}/{system_id}``: where the system's models, predictions and plans live on the bucket."""
        return f"{self.env}/{self.system_id}"

    @property
    def is_local(self) -> bool:
        """True when the clients talk to the local emulators instead of Google Cloud."""
        return self.profile == "local"

    @property
    def topic_path(self) -> str:
        return f"projects/{self.project}/topics/{self.topic}"

    @property
    def subscription_path(self) -> str:
        return f"projects/{self.project}/subscriptions/{self.subscription}"

    def table_id(self, table: str) -> str:
        """Fully qualified BigQuery table id, ``project.dataset.table``."""
        return f"{self.project}.{self.dataset}.{table}"

    def emulator_env(self) -> dict[str, str]:
        """Variables that point Google's libraries at the emulators in child processes.

        Beam's ``ReadFromPubSub`` and its streaming inserts honour only these variables, so a
        pipeline or dbt started as a subprocess gets them; empty in the ``gcp`` profile.
        """
        if not self.is_local:
            return {}
        return {
            "PUBSUB_EMULATOR_HOST": self.pubsub.address,
            "BIGQUERY_EMULATOR_HOST": self.bigquery.url,
            "STORAGE_EMULATOR_HOST": self.storage.url,
            # google.auth.default() (called by Beam) gets a dummy token from the local stand-in
            "GCE_METADATA_HOST": self.metadata.address,
            "GCE_METADATA_IP": self.metadata.address,
        }

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read ``BIKESHARE_*`` variables; anything unset keeps its local default."""
        read = EnvReader(os.environ if environ is None else environ)
        get, integer = read.text, read.integer

        def endpoint(name: str, fallback: Endpoint) -> Endpoint:
            return Endpoint(get(f"{name}_HOST", fallback.host), read.port(f"{name}_PORT", fallback.port))

        default = cls()
        profile = read.profile()
        if profile == "gcp":
            missing = [f"BIKESHARE_{n}" for n in ("GCP_PROJECT", "GCS_BUCKET") if not get(n, "")]
            if missing:
                raise SettingsError(f"the gcp profile needs {', '.join(missing)} (see .env.example)")
        trips_dir, trips_provided = trips_data_location(read)
        return cls(
            profile=profile,  # type: ignore[arg-type]  # validated in __post_init__
            project=get("GCP_PROJECT", default.project),
            region=get("GCP_REGION", default.region),
            env=get("ENV", "prod" if profile == "gcp" else default.env),
            dataset=get("BQ_DATASET", default.dataset),
            bq_location=get("BQ_LOCATION", default.bq_location),
            topic=get("PUBSUB_TOPIC", default.topic),
            subscription=get("PUBSUB_SUBSCRIPTION", default.subscription),
            bucket=get("GCS_BUCKET", default.bucket),
            pubsub=endpoint("PUBSUB", default.pubsub),
            bigquery=endpoint("BIGQUERY", default.bigquery),
            bigquery_grpc=endpoint("BIGQUERY_GRPC", default.bigquery_grpc),
            storage=endpoint("STORAGE", default.storage),
            metadata=endpoint("METADATA", default.metadata),
            gbfs=endpoint("GBFS", default.gbfs),
            late_event_limit_minutes=integer("LATE_EVENT_LIMIT_MINUTES", default.late_event_limit_minutes),
            future_event_limit_minutes=integer("FUTURE_EVENT_LIMIT_MINUTES", default.future_event_limit_minutes),
            state_dir=read.path("STATE_DIR", default.state_dir),
            gcloud_sdk_root=Path(sdk) if (sdk := get("GCLOUD_SDK_ROOT", "")) else None,
            trips_data_dir=trips_dir,
            trips_data_provided=trips_provided,
            alert_log=Path(log) if (log := get("ALERT_LOG", _default_alert_log(profile, default))) else None,
        )

    def trips_data_env(self) -> dict[str, str]:
        """The variable that gives a child process the same trip data folder, with the same meaning."""
        name = "BIKESHARE_TRIPS_DATA_DIR" if self.trips_data_provided else "BIKESHARE_TRIPS_CACHE_DIR"
        return {name: str(self.trips_data_dir)}

    def with_names(self, **names: str) -> Settings:
        """A copy with other resource names (tests use this to work in their own dataset)."""
        return replace(self, **names)


def trips_data_location(read: EnvReader | None = None) -> tuple[Path, bool]:
    """Where the trip files are read from, and whether that folder was provided: ``BIKESHARE_TRIPS_DATA_DIR``
    (provided: it must hold the files, nothing is downloaded to it), else the download cache
    ``BIKESHARE_TRIPS_CACHE_DIR`` (default :data:`TRIPS_CACHE_DIR`). The one place that reads the two."""
    read = read or EnvReader()
    if provided := read.text("TRIPS_DATA_DIR", ""):
        return Path(provided), True
    return read.path("TRIPS_CACHE_DIR", TRIPS_CACHE_DIR), False


def _default_alert_log(profile: str, default: Settings) -> str:
    return "" if profile == "gcp" else str(default.alert_log)


@cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings.from_env()
