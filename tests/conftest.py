"""Shared fixtures: the Airflow environment, the local stack, and per-session resource names.

Integration tests get their own topic, subscription, dataset and bucket (``test_settings``), so
they never touch the demo's resources and can run while the demo stack is in use.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from google.api_core.exceptions import NotFound

ROOT = Path(__file__).resolve().parents[1]
DAGS_FOLDER = ROOT / "dags"


def _load_dev_env() -> None:
    """Take the Airflow variables from scripts/dev_env.sh, the one place that defines them."""
    out = subprocess.run(
        ["bash", "-c", f'. "{ROOT}/scripts/dev_env.sh" && env -0'],
        capture_output=True,
        check=True,
    ).stdout.decode()
    for item in out.split("\0"):
        key, sep, value = item.partition("=")
        if sep and (key.startswith("AIRFLOW") or key in ("PYTHONPATH", "PATH")):
            os.environ[key] = value


_load_dev_env()

from include.gcp.settings import get_settings as _settings  # noqa: E402  (stdlib only: no client loaded yet)

# In-process Beam pipelines in the tests call google.auth.default(), whose metadata host is read
# once at import; set the emulator variables before any Google library is imported.
os.environ.update(_settings().emulator_env())

from include.gcp import clients, resources  # noqa: E402  (after the environment is set)
from include.gcp.settings import Settings, get_settings  # noqa: E402
from include.localstack import stack  # noqa: E402
from include.localstack.servers import EmulatorMissing  # noqa: E402


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
    subprocess.run([str(ROOT / ".venv" / "bin" / "airflow"), "db", "migrate"], check=True, capture_output=True)
    return Path(os.environ["AIRFLOW_HOME"])
