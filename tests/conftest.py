"""Shared fixtures: the Airflow environment, the local stack, and per-session resource names.

Integration tests get their own topic, subscription, dataset and bucket (``test_settings``), so
they never touch the demo's resources and can run while the demo stack is in use.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from google.api_core.exceptions import NotFound

ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = ROOT / "dags"
# The airflow CLI beside this interpreter: .venv/bin locally, the image's bin under astro dev pytest
AIRFLOW_CLI = Path(sys.executable).with_name("airflow")

# Tests that need the local emulators: those that use one of these fixtures, directly or through
# another fixture (``item.fixturenames`` is the transitive closure). Each gets the ``integration``
# marker at collection, so ``pytest -m "not integration"`` is exactly the tests that need no emulator.
EMULATOR_FIXTURES = frozenset({"local_stack", "test_settings"})
# Set by the Dockerfile: this process runs in the project's Astro image, as under ``astro dev pytest``
# (and ``astro deploy --pytest``), where the emulators are not. Only there are those tests skipped.
IMAGE_ENV = "IN_BIKESHARE_IMAGE"
IMAGE_SKIP_REASON = (
    "needs the local emulators (make test); not available under astro dev pytest "
    f"({IMAGE_ENV}=1, set by the Dockerfile)"
)
# Tests that read what the image does not hold: .git and airflow_settings.yaml stay out of the build
# context (.dockerignore), the trip data is downloaded on first use or read from BIKESHARE_TRIPS_DATA_DIR, outside
# the project (include/simulator/trip_data.py). Skipped in the image only.
OUTSIDE_THE_IMAGE = {
    "tests/project/test_secret_files_ignored.py::test_git_ignores_planted_secret_files_but_not_the_env_example": ".git",
    "tests/project/test_airflow_settings.py::test_google_connection_is_local_and_keyless": "airflow_settings.yaml",
    "tests/simulator/test_sources.py::test_month_resolves_in_the_shared_data_dir": "the trip data (a download)",
    "tests/simulator/test_trips.py::test_ids_of_a_real_month_are_stable_and_unique": "the trip data (a download)",
}


def _load_dev_env() -> None:
    """Take the Airflow variables (and the offline trip data folder) from scripts/dev_env.sh, the one place that
    defines them."""
    out = subprocess.run(
        ["bash", "-c", f'. "{ROOT}/scripts/dev_env.sh" && env -0'],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for item in out.split("\0"):
        key, sep, value = item.partition("=")
        # BIKESHARE_TRIPS_DATA_DIR: the offline copy of the trip files that dev_env.sh finds beside the clone
        if sep and (key.startswith("AIRFLOW") or key in ("PYTHONPATH", "PATH", "BIKESHARE_TRIPS_DATA_DIR")):
            os.environ[key] = value


_load_dev_env()
# The ML tests fit the hour they run (the hourly cadence); the default cadence (daily) and its skipping are
# tested where it is set explicitly (tests/ml/test_cadence.py, test_hourly_on_stack.py).
os.environ.setdefault("BIKESHARE_TRAIN_CADENCE", "hourly")

from include.gcp.settings import get_settings as _settings  # noqa: E402  (stdlib only: no client loaded yet)

# In-process Beam pipelines in the tests call google.auth.default(), whose metadata host is read
# once at import; set the emulator variables before any Google library is imported.
os.environ.update(_settings().emulator_env())

from include.gcp import clients, resources  # noqa: E402  (after the environment is set)
from include.gcp.settings import Settings, get_settings  # noqa: E402
from include.localstack import stack  # noqa: E402
from include.localstack.servers import EmulatorMissing  # noqa: E402


def needs_emulators(item: pytest.Item) -> bool:
    """True for a test that uses an emulator fixture (directly or transitively) or is marked integration."""
    fixtures = set(getattr(item, "fixturenames", ()))
    return bool(EMULATOR_FIXTURES & fixtures) or item.get_closest_marker("integration") is not None


def emulator_skip_reason(environ: Mapping[str, str] = os.environ) -> str | None:
    """Why emulator tests are skipped in this process, or None: they run (and a missing emulator fails them)."""
    return IMAGE_SKIP_REASON if environ.get(IMAGE_ENV) == "1" else None


def mark_emulator_tests(items: list[pytest.Item], environ: Mapping[str, str] = os.environ) -> None:
    """Mark every test that needs the emulators ``integration``; in the Astro image, skip it (and the tests
    of OUTSIDE_THE_IMAGE) with the reason."""
    reason = emulator_skip_reason(environ)
    for item in items:
        if needs_emulators(item):
            item.add_marker(pytest.mark.integration)
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
        elif reason and item.nodeid in OUTSIDE_THE_IMAGE:
            what = OUTSIDE_THE_IMAGE[item.nodeid]
            item.add_marker(pytest.mark.skip(reason=f"reads {what}, which is not in the image (astro dev pytest)"))


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_emulator_tests(items)


@pytest.fixture(scope="session")
def local_stack() -> Settings:
    """The running local stack, started here if needed and left running afterwards.

    It is not stopped at the end: other test sessions (and the demo) may be using it; `make
    stack-down` (CI's last step) stops it. A missing emulator fails the tests with the install
    step; it never skips them.
    """
    settings = get_settings()
    try:
        stack.up(settings)
    except (EmulatorMissing, stack.StackError) as err:
        pytest.fail(f"local stack unavailable: {err}", pytrace=False)
    return settings


@pytest.fixture(scope="session")
def test_settings(local_stack: Settings) -> Iterator[Settings]:
    """Settings with resource names of this test session, with the resources created."""
    tag = uuid.uuid4().hex[:8]
    settings = local_stack.with_names(
        dataset=f"test_{tag}",
        topic=f"test-events-{tag}",
        subscription=f"test-events-{tag}-sub",
        bucket=f"test-bucket-{tag}",
    )
    resources.ensure_all(settings)
    yield settings
    drop_resources(settings)


def drop_resources(settings: Settings) -> None:
    """Delete a test's topic, subscription, dataset and bucket; missing ones are fine."""
    clients.bigquery_client(settings).delete_dataset(settings.dataset, delete_contents=True, not_found_ok=True)
    with suppress(NotFound), clients.subscriber_client(settings) as subscriber:
        subscriber.delete_subscription(subscription=settings.subscription_path)
    with suppress(NotFound):
        clients.publisher_client(settings).delete_topic(topic=settings.topic_path)
    with suppress(NotFound):
        clients.storage_client(settings).bucket(settings.bucket).delete(force=True)


@contextmanager
def dag_settings(monkeypatch: pytest.MonkeyPatch, prefix: str, **extra: str) -> Iterator[Settings]:
    """Point ``get_settings()`` — what DAG tasks read — at resource names of this test only.

    ``extra`` sets more ``BIKESHARE_*`` variables (without the prefix). The resources are dropped
    afterwards, whether the DAG created them or not.
    """
    tag = f"{prefix}{uuid.uuid4().hex[:8]}"
    names = {
        "BQ_DATASET": tag.replace("-", "_"),
        "PUBSUB_TOPIC": tag,
        "PUBSUB_SUBSCRIPTION": f"{tag}-sub",
        "GCS_BUCKET": tag,
        **extra,
    }
    for key, value in names.items():
        monkeypatch.setenv(f"BIKESHARE_{key}", value.format(tag=tag))
    get_settings.cache_clear()
    settings = get_settings()
    try:
        yield settings
    finally:
        get_settings.cache_clear()
        drop_resources(settings)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite under .local/airflow), as dag.test() needs."""
    subprocess.run([str(AIRFLOW_CLI), "db", "migrate"], check=True, capture_output=True)
    return Path(os.environ["AIRFLOW_HOME"])


SYSTEMS_HEADER = "system_id,name,time_zone,gbfs_url,trip_source,trucks,truck_capacity,depot_lat,depot_lon,enabled\n"
ZONES_OF_TEST_SYSTEMS = {"citibike-jc": "America/New_York", "phx": "America/Phoenix", "la": "America/Los_Angeles"}


@pytest.fixture
def systems_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # -> Callable[..., Path]
    """``systems_table("citibike-jc", "phx")``: a systems CSV of those ids (zones from
    :data:`ZONES_OF_TEST_SYSTEMS`), made the deployment's table through ``BIKESHARE_SYSTEMS_FILE``."""

    def make(*system_ids: str) -> Path:
        path = tmp_path / "systems.csv"
        rows = [
            f"{sid},{sid.upper()},{ZONES_OF_TEST_SYSTEMS[sid]},http://127.0.0.1:1/{sid}/gbfs.json,test,2,20,,,true\n"
            for sid in system_ids
        ]
        path.write_text(SYSTEMS_HEADER + "".join(rows))
        monkeypatch.setenv("BIKESHARE_SYSTEMS_FILE", str(path))
        return path

    return make
