"""The registry unpickles a model only if its bytes match the sha256 recorded at commit (GCS emulator)."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from google.api_core.exceptions import NotFound

from include.gcp import bucket, clients, paths
from include.gcp.settings import Settings
from include.ml import registry

pytestmark = pytest.mark.integration

VERSION = "20190901T0800Z"


class PlantsAFile:
    """A pickle that runs code when loaded: it creates ``path`` (what an attacker's file would do)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.path,))


@pytest.fixture
def s(test_settings: Settings) -> Iterator[Settings]:
    settings = test_settings.with_names(bucket=f"{test_settings.bucket}-checksum")
    clients.storage_client(settings).create_bucket(settings.bucket)
    yield settings
    with suppress(NotFound):
        clients.storage_client(settings).bucket(settings.bucket).delete(force=True)


def replace_model_file(s: Settings, data: bytes) -> None:
    bucket.write_bytes(paths.model_pickle(s.env, VERSION), data, "application/octet-stream", s)


def test_a_committed_model_loads_and_its_checksum_is_in_the_metadata(s: Settings) -> None:
    checksum = registry.save_model(VERSION, {"weights": [1, 2, 3]}, s)
    registry.commit(VERSION, {"promoted": True, registry.MODEL_SHA256: checksum}, s)
    assert registry.read_metadata(VERSION, s)[registry.MODEL_SHA256] == checksum
    assert registry.load_model(VERSION, s) == {"weights": [1, 2, 3]}


def test_a_model_file_replaced_after_commit_is_never_unpickled(s: Settings, tmp_path: Path) -> None:
    checksum = registry.save_model(VERSION, {"weights": [1]}, s)
    registry.commit(VERSION, {registry.MODEL_SHA256: checksum}, s)
    planted = tmp_path / "code-ran"
    replace_model_file(s, pickle.dumps(PlantsAFile(planted)))
    with pytest.raises(registry.UntrustedModel, match="not unpickling it"):
        registry.load_model(VERSION, s)
    assert not planted.exists()


def test_a_model_file_replaced_before_commit_is_not_committed(s: Settings, tmp_path: Path) -> None:
    checksum = registry.save_model(VERSION, {"weights": [1]}, s)
    replace_model_file(s, pickle.dumps(PlantsAFile(tmp_path / "code-ran")))
    with pytest.raises(registry.UntrustedModel, match="not committing it"):
        registry.commit(VERSION, {registry.MODEL_SHA256: checksum}, s)
    assert not registry.is_committed(VERSION, s)


def test_a_version_without_a_recorded_checksum_is_refused(s: Settings, tmp_path: Path) -> None:
    registry.save_model(VERSION, {"weights": [1]}, s)
    with pytest.raises(registry.UntrustedModel, match="not committing it"):
        registry.commit(VERSION, {"promoted": True}, s)  # a commit must carry the checksum
    # a metadata.json written before checksums were recorded (or by hand): loading refuses
    bucket.write_bytes(paths.model_metadata(s.env, VERSION), b'{"promoted": true}', "application/json", s)
    planted = tmp_path / "code-ran"
    replace_model_file(s, pickle.dumps(PlantsAFile(planted)))
    with pytest.raises(registry.UntrustedModel, match="no model_sha256"):
        registry.load_model(VERSION, s)
    assert not planted.exists()


def test_a_run_without_a_model_commits_its_metadata_only(s: Settings) -> None:
    registry.commit(VERSION, {"promoted": False, "gate": "not enough data"}, s)
    assert registry.read_metadata(VERSION, s)["gate"] == "not enough data"
