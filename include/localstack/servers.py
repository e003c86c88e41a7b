"""The local servers of the ``local`` profile: how to find, start and probe each.

Each server is a real emulator speaking the Google API its client expects: Google's own Pub/Sub
emulator (Java, shipped with the gcloud CLI), ``bqemulator`` (BigQuery over DuckDB) and
``gcp-storage-emulator``. The last two live in their own venv, ``.venv-emulators``. Beside them: a
loopback metadata server (dummy credentials for Beam) and the local GBFS feed (:mod:`include.gbfs.server`).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from include.gcp.settings import PROJECT_ROOT, Endpoint, Settings

EMULATOR_VENV = PROJECT_ROOT / ".venv-emulators"
INSTALL_HINT = "run `make install` (it builds .venv-emulators from requirements-emulators.lock)"
PUBSUB_HINT = (
    "install Google's Pub/Sub emulator: on a laptop `gcloud components install pubsub-emulator` "
    "(or the Debian/RPM package google-cloud-cli-pubsub-emulator), plus a Java 11+ runtime; "
    "under `astro dev start` the pubsub-emulator container of docker-compose.override.yml runs it; "
    "or set BIKESHARE_GCLOUD_SDK_ROOT to the gcloud SDK root"
)


class EmulatorMissing(RuntimeError):
    """An emulator is not installed; the message names the install step."""


@dataclass(frozen=True)
class Launch:
    """Everything needed to start one server process."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]


@dataclass(frozen=True)
class Server:
    """One emulator: its name, where it listens, and the URL that answers 200 once it is ready."""

    name: str
    endpoint: Endpoint
    probe_path: str
    # A string that appears in the process's command line; guards against a reused PID.
    cmdline_marker: str

    def ready(self, timeout: float = 1.0) -> bool:
        """True once the server answers its probe URL with HTTP 200."""
        try:
            with urllib.request.urlopen(self.endpoint.url + self.probe_path, timeout=timeout) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            return False


def servers(settings: Settings) -> list[Server]:
    return [
        Server("pubsub", settings.pubsub, "/", "pubsub-emulator"),
        Server(
            "bigquery",
            settings.bigquery,
            f"/bigquery/v2/projects/{settings.project}/datasets",
            "bqemulator",
        ),
        Server("storage", settings.storage, "/storage/v1/b?project=" + settings.project, "gcp-storage-emulator"),
        Server("metadata", settings.metadata, "/computeMetadata/v1/project/project-id", "metadata_server"),
        # not an emulator: the operator's GBFS feed, its stock rebuilt from the published events
        Server("gbfs", settings.gbfs, "/gbfs.json", "include.gbfs.server"),
    ]


def launch(server: Server, settings: Settings) -> Launch:
    """How to start ``server``; raises :class:`EmulatorMissing` with the install step."""
    data = settings.state_dir / server.name
    data.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}  # pass-through
    bind = "0.0.0.0" if server.endpoint.host not in ("127.0.0.1", "localhost") else "127.0.0.1"
    if server.name == "pubsub":
        return Launch(
            [str(_pubsub_launcher(settings)), f"--host={bind}", f"--port={server.endpoint.port}"],
            data,
            env,
        )
    if server.name == "bigquery":
        home = data / "home"
        _install_duckdb_extensions(home)
        env["HOME"] = str(home)  # DuckDB looks for its extensions under $HOME/.duckdb
        # bqemulator copies a whole table after every write for time travel; nothing here uses time
        # travel, and the launcher skips those copies at retention 0 (see bqemulator_launcher.py).
        env["BQEMU_TIME_TRAVEL_RETENTION_DAYS"] = "0"
        # Its gRPC send cap is this + 1 MiB, and its Storage Read API sends 65,536 rows per message:
        # that many rows of station_features_wide are ~23 MB (BigQuery sizes its messages itself).
        env["BQEMU_WRITE_API_MAX_REQUEST_BYTES"] = str(128 * 1024 * 1024)
        argv = [
            str(_venv_bin("python")),
            str(Path(__file__).with_name("bqemulator_launcher.py")),
            "start",
            f"--rest-host={bind}",
            f"--rest-port={server.endpoint.port}",
            f"--grpc-host={bind}",
            f"--grpc-port={settings.bigquery_grpc.port}",
            f"--project={settings.project}",
            "--persistent",
            f"--data-dir={data / 'data'}",
            "--log-level=warning",
        ]
        (data / "data").mkdir(exist_ok=True)
        return Launch(argv, data, env)
    if server.name == "storage":
        env["STORAGE_BASE"] = str(data)  # objects persist under .local/storage/.cloudstorage
        argv = [
            str(_venv_bin("gcp-storage-emulator")),
            "start",
            f"--host={bind}",
            f"--port={server.endpoint.port}",
        ]
        return Launch(argv, data, env)
    if server.name == "metadata":
        argv = [
            sys.executable,
            "-m",
            "include.localstack.metadata_server",
            f"--host={bind}",
            f"--port={server.endpoint.port}",
            f"--project={settings.project}",
        ]
        return Launch(argv, PROJECT_ROOT, env)
    if server.name == "gbfs":
        env.pop("BIKESHARE_TRIPS_DATA_DIR", None)  # set below when the settings have it
        env.update(  # the stack's own names, also when they came from a Settings object, not the environment
            {
                "BIKESHARE_GCP_PROJECT": settings.project,
                "BIKESHARE_PUBSUB_TOPIC": settings.topic,
                "BIKESHARE_PUBSUB_HOST": settings.pubsub.host,
                "BIKESHARE_PUBSUB_PORT": str(settings.pubsub.port),
                "BIKESHARE_STATE_DIR": str(settings.state_dir),
                **settings.trips_data_env(),  # the same trip data folder (its station snapshot), with the same meaning
                "BIKESHARE_LATE_EVENT_LIMIT_MINUTES": str(settings.late_event_limit_minutes),
                "BIKESHARE_FUTURE_EVENT_LIMIT_MINUTES": str(settings.future_event_limit_minutes),
            }
        )
        argv = [sys.executable, "-m", "include.gbfs.server", f"--host={bind}", f"--port={server.endpoint.port}"]
        return Launch(argv, PROJECT_ROOT, env)
    raise ValueError(f"unknown server {server.name!r}")


def _venv_bin(name: str) -> Path:
    path = EMULATOR_VENV / "bin" / name
    if not path.exists():
        raise EmulatorMissing(f"{name} is not installed at {path}: {INSTALL_HINT}")
    return path


def _sdk_roots(settings: Settings) -> list[Path]:
    roots = [settings.gcloud_sdk_root] if settings.gcloud_sdk_root else []
    gcloud = shutil.which("gcloud")
    if gcloud:
        try:
            out = subprocess.run(
                [gcloud, "info", "--format=value(installation.sdk_root)"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            ).stdout.strip()
            if out:
                roots.append(Path(out))
        except (OSError, subprocess.SubprocessError):
            pass
        roots.append(Path(gcloud).resolve().parents[1])
    roots += [Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk")]
    return roots


def _pubsub_launcher(settings: Settings) -> Path:
    for root in _sdk_roots(settings):
        launcher = root / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
        if launcher.exists():
            return launcher  # it finds Java itself; if it cannot, its log says so
    raise EmulatorMissing(f"Google's Pub/Sub emulator was not found: {PUBSUB_HINT}")


def _install_duckdb_extensions(home: Path) -> None:
    """Put the DuckDB extensions from their PyPI wheels where DuckDB looks for them.

    bqemulator runs ``INSTALL spatial`` at start-up, which downloads unless the extension file is
    already in ``$HOME/.duckdb/extensions/<version>/<platform>/``; offline that download fails.
    """
    site = next(EMULATOR_VENV.glob("lib/python*/site-packages"), None)
    files = sorted(site.glob("duckdb_extension_*/extensions/*/*.duckdb_extension")) if site else []
    if not files:
        raise EmulatorMissing(f"the DuckDB extension wheels are missing from {EMULATOR_VENV}: {INSTALL_HINT}")
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    for src in files:
        dest = home / ".duckdb" / "extensions" / src.parent.name / f"linux_{arch}" / src.name
        if not dest.exists() or dest.stat().st_size != src.stat().st_size:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
