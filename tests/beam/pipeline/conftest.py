"""Fixtures for the Beam tests: own Pub/Sub and BigQuery resources, the pipeline as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from include.beam.control.launch import pipeline_args
from include.beam.control.settings import IngestSettings
from include.beam.pipeline import PIPELINE_MODULE
from include.gcp import resources
from include.gcp.settings import Settings
from tests.conftest import ROOT, drop_resources


@pytest.fixture
def ingest_settings(test_settings: Settings) -> Iterator[Settings]:
    """The session's names with a suffix: a topic, subscription and dataset no other test reads."""
    settings = test_settings.with_names(
        topic=f"{test_settings.topic}-beam",
        subscription=f"{test_settings.topic}-beam-sub",
        dataset=f"{test_settings.dataset}_beam",
        bucket=f"{test_settings.bucket}-beam",  # never created; drop_resources skips it
    )
    resources.ensure_pubsub(settings)
    resources.ensure_bigquery(settings)
    yield settings
    drop_resources(settings)


@contextmanager
def running_pipeline(settings: Settings, log: Path) -> Iterator[subprocess.Popen]:
    """``python -m include.beam.pipeline.pipeline`` with the profile's args, stopped (SIGTERM, then kill) on exit."""
    env = {**os.environ, **settings.emulator_env()}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", PIPELINE_MODULE, *pipeline_args(settings, IngestSettings(job_name="beam-test"))],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
