"""Fixtures for the streaming-job tests: resources, job name and state directory of one test alone."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from include.beam.control.settings import IngestSettings
from include.beam.control.stream_local import LocalStreamingJob
from include.gcp import resources
from include.gcp.settings import Settings
from tests.conftest import drop_resources


def ingest_of(settings: Settings) -> IngestSettings:
    """The test's own streaming-job name, made from its topic's (unique per test)."""
    return IngestSettings(job_name=f"test-{settings.topic}")


@pytest.fixture
def stream_settings(local_stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Own topic, subscription, dataset and tables and state dir (no bucket: none needed); the job
    name is :func:`ingest_of`'s."""
    tag = uuid.uuid4().hex[:8]
    settings = dataclasses.replace(
        local_stack,
        dataset=f"stream_{tag}",
        topic=f"stream-{tag}",
        subscription=f"stream-{tag}-sub",
        bucket=f"stream-{tag}",
        state_dir=tmp_path / "state",
    )
    resources.ensure_pubsub(settings)
    resources.ensure_bigquery(settings)
    yield settings
    try:
        LocalStreamingJob(settings, ingest_of(settings)).drain(timeout=10)  # whatever failed, leave no pipeline behind
    finally:
        drop_resources(settings)
