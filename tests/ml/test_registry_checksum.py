"""The registry's integrity checks on the GCS emulator: the sha256 its commit records still catches a torn or
swapped model file (the security of loading is the format's: tests/ml/test_no_code_from_bucket.py)."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from contextlib import suppress

import pytest
from google.api_core.exceptions import NotFound

from include.gcp import bucket, clients, paths
from include.gcp.settings import Settings
from include.ml import model_file, registry
from include.ml.model import StationFlowModel

pytestmark = pytest.mark.integration

VERSION = "20190901T0800Z"


@pytest.fixture
def s(test_settings: Settings) -> Iterator[Settings]:
    settings = test_settings.with_names(bucket=f"{test_settings.bucket}-checksum")
    clients.storage_client(settings).create_bucket(settings.bucket)
    yield settings
    with suppress(NotFound):
        clients.storage_client(settings).bucket(settings.bucket).delete(force=True)


def replace_model_file(s: Settings, data: bytes) -> None:
    bucket.write_bytes(paths.model_skops(s.system_root, VERSION), data, "application/octet-stream", s)


def test_a_committed_model_is_a_skops_file_with_its_checksum_in_the_metadata(s: Settings) -> None:
    checksum = registry.save_model(VERSION, StationFlowModel(["a", "b"]), s)
    registry.commit(VERSION, {"promoted": True, registry.MODEL_SHA256: checksum}, s)
    assert registry.read_metadata(VERSION, s)[registry.MODEL_SHA256] == checksum
    assert bucket.list_paths(paths.model_dir(s.system_root, VERSION) + "/", s) == [
        paths.model_metadata(s.system_root, VERSION),
        paths.model_skops(s.system_root, VERSION),
    ]
    assert registry.load_model(VERSION, s).features == ["a", "b"]
    assert isinstance(registry.verify(VERSION, s), registry.Verified)


def test_a_model_file_torn_or_swapped_after_commit_is_not_loaded(s: Settings) -> None:
    checksum = registry.save_model(VERSION, StationFlowModel(["a"]), s)
    registry.commit(VERSION, {registry.MODEL_SHA256: checksum}, s)
    whole = bucket.read_bytes(paths.model_skops(s.system_root, VERSION), s)
    for data in (whole[: len(whole) // 2], model_file.dumps(StationFlowModel(["other"]))):
        replace_model_file(s, data)
        checked = registry.verify(VERSION, s)
        assert isinstance(checked, registry.Unverifiable)
        assert "torn or swapped" in checked.reason
        assert checked.object == f"gs://{s.bucket}/{paths.model_skops(s.system_root, VERSION)}"
        with pytest.raises(registry.UntrustedModel, match="not loading it"):
            registry.load_model(VERSION, s)


def test_a_model_file_replaced_before_commit_is_not_committed(s: Settings) -> None:
    checksum = registry.save_model(VERSION, StationFlowModel(["a"]), s)
    replace_model_file(s, model_file.dumps(StationFlowModel(["other"])))
    with pytest.raises(registry.UntrustedModel, match="not committing it"):
        registry.commit(VERSION, {registry.MODEL_SHA256: checksum}, s)
    assert not registry.is_committed(VERSION, s)


def test_a_commit_without_the_checksum_is_refused(s: Settings) -> None:
    registry.save_model(VERSION, StationFlowModel(["a"]), s)
    with pytest.raises(registry.UntrustedModel, match="not committing it"):
        registry.commit(VERSION, {"promoted": True}, s)
    assert not registry.is_committed(VERSION, s)


def test_a_version_pickled_before_the_skops_format_is_refused_with_what_to_do(s: Settings) -> None:
    """What the registry wrote until now: model.pkl and its sha256. Never unpickled: retrain it."""
    pickled = pickle.dumps(StationFlowModel(["a"]))
    bucket.write_bytes(paths.model_pickle(s.system_root, VERSION), pickled, "application/octet-stream", s)
    metadata = b'{"promoted": true, "model_sha256": "%s"}' % registry.sha256(pickled).encode()
    bucket.write_bytes(paths.model_metadata(s.system_root, VERSION), metadata, "application/json", s)
    registry.point_latest(VERSION, s)
    checked = registry.verify(VERSION, s)
    assert isinstance(checked, registry.Unverifiable)
    assert "only a pickled model.pkl" in checked.reason
    assert "retrain" in checked.reason
    assert checked.object.endswith(paths.model_pickle(s.system_root, VERSION))
    assert f"rerun the hour {VERSION} to retrain it" in checked.todo
    serving = registry.serving("20190901T0900Z", s)
    assert serving.version is None  # nothing verified to fall back to: no predictions rather than a pickle
    assert [bad.version for bad in serving.unverifiable] == [VERSION]


def test_a_run_without_a_model_commits_its_metadata_only(s: Settings) -> None:
    registry.commit(VERSION, {"promoted": False, "gate": "not enough data"}, s)
    assert registry.read_metadata(VERSION, s)["gate"] == "not enough data"
    checked = registry.verify(VERSION, s)
    assert isinstance(checked, registry.Unverifiable)
    assert checked.reason == "no model file"
