"""The hourly DAGs' shared fixture: a synthetic feature store of WEEKS weeks up to CUTOFF, in a dataset
and bucket of the test's own (tests/conftest.py ``dag_settings``), alerts to a file of the test."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from include.gcp import clients
from include.gcp.settings import Settings
from tests.conftest import dag_settings
from tests.ml.conftest import START, load_feature_store, make_features, make_labels

WEEKS = 3
CUTOFF = START + timedelta(hours=WEEKS * 168)  # the last as_of with features; labels end an hour before


@pytest.fixture
def feature_store_env(monkeypatch: pytest.MonkeyPatch, local_stack: Settings, tmp_path: Path) -> Iterator[Settings]:
    with dag_settings(monkeypatch, "dagtest-ml-", ALERT_LOG=str(tmp_path / "alerts.jsonl")) as settings:
        clients.bigquery_client(settings).create_dataset(settings.dataset, exists_ok=True)
        clients.storage_client(settings).create_bucket(settings.bucket)
        labels = make_labels(WEEKS * 168, "lagged")
        load_feature_store(settings, labels, make_features(labels, CUTOFF))
        yield settings
